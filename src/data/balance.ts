import type { Dataset } from './dataset.js';
import { shuffledIndices, take } from './batching.js';
import { deriveSeed, Rng } from './rng.js';

/**
 * Oversamples every class to the size of the largest: each example of a class with n_c examples
 * appears ⌊M/n_c⌋ times, plus a seeded choice of M mod n_c of them once more (M the largest
 * count). For training on skewed data (SpamAssassin's first collection has 6 ham per spam), so
 * the loss weighs the classes equally; never for evaluation.
 *
 * @example
 * ```ts
 * const even = balanceClasses(train, 0); // as many spam as ham rows
 * ```
 */
export function balanceClasses(ds: Dataset, seed: number): Dataset {
  const byClass: number[][] = Array.from({ length: ds.numClasses }, () => []);
  for (let i = 0; i < ds.n; i++) byClass[ds.y[i]!]!.push(i);
  const most = Math.max(...byClass.map((c) => c.length));
  const rows: number[] = [];
  byClass.forEach((idx, c) => {
    if (idx.length === 0) return;
    const times = Math.floor(most / idx.length);
    for (let t = 0; t < times; t++) rows.push(...idx);
    const extra = shuffledIndices(idx.length, new Rng(deriveSeed(seed, 'balance', c)));
    for (let j = 0; j < most % idx.length; j++) rows.push(idx[extra[j]!]!);
  });
  return take(ds, rows, `${ds.name} (balanced)`);
}
