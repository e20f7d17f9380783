import type { Dataset } from '../data/dataset.js';
import type { ClassRow } from './schema.js';

/**
 * Clean and robust accuracy per true class, over the classes that have examples among the
 * evaluated ones, in class order.
 *
 * @example
 * ```ts
 * const rows = perClass(test, result.cleanCorrect, result.robust);
 * console.log(rows.map((r) => `${r.label}: ${r.robust}/${r.n}`).join(', '));
 * ```
 */
export function perClass(ds: Pick<Dataset, 'y' | 'n' | 'numClasses'>, cleanCorrect: ArrayLike<number>, robust: ArrayLike<number>): ClassRow[] {
  const n = new Array<number>(ds.numClasses).fill(0);
  const clean = new Array<number>(ds.numClasses).fill(0);
  const rob = new Array<number>(ds.numClasses).fill(0);
  for (let i = 0; i < ds.n; i++) {
    const c = ds.y[i]!;
    n[c]!++;
    if (cleanCorrect[i]) clean[c]!++;
    if (robust[i]) rob[c]!++;
  }
  return n.flatMap((count, label) =>
    count === 0 ? [] : [{ label, n: count, clean_correct: clean[label]!, robust: rob[label]!, clean_accuracy: clean[label]! / count, robust_accuracy: rob[label]! / count }],
  );
}
