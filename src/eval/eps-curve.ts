import { UserError } from '../errors.js';
import type { Classifier } from '../model/classifier.js';
import type { Dataset } from '../data/dataset.js';
import { lpThreat, type Norm } from '../threat/threat-model.js';
import { Pgd } from '../attacks/pgd.js';
import { Apgd } from '../attacks/apgd.js';
import { runAttack } from './attack-run.js';
import { deriveSeed } from '../data/rng.js';

/**
 * Parses `START:STOP:STEP` (e.g. `0:0.4:0.05`) into the list of budgets, STOP included.
 *
 * @example
 * ```ts
 * parseEpsRange('0:0.3:0.1'); // [0, 0.1, 0.2, 0.3]
 * ```
 */
export function parseEpsRange(text: string): number[] {
  const parts = text.split(':').map(Number);
  const [a, b, c] = parts;
  if (parts.length !== 3 || parts.some((v) => !Number.isFinite(v)) || !(c! > 0) || b! < a! || a! < 0) {
    throw new UserError(`--eps-curve must be START:STOP:STEP with 0 ≤ START ≤ STOP and STEP > 0 (got '${text}')`);
  }
  const n = Math.floor((b! - a!) / c! + 1e-9);
  return Array.from({ length: n + 1 }, (_, i) => +(a! + i * c!).toFixed(10));
}

/**
 * Accuracy against ε: at each budget the worst case of PGD-20 and APGD-CE (the quick preset);
 * ε = 0 is the clean accuracy. `onProgress(done, total)` is called after each budget.
 *
 * @example
 * ```ts
 * const curve = await epsCurve(clf, subset(test, 500), 'linf', parseEpsRange('0:0.4:0.05'));
 * ```
 */
export async function epsCurve(
  clf: Classifier,
  ds: Dataset,
  norm: Norm,
  budgets: number[],
  seed = 0,
  onProgress?: (done: number, total: number) => void,
): Promise<{ eps: number; accuracy: number }[]> {
  const out: { eps: number; accuracy: number }[] = [];
  for (const eps of budgets) {
    out.push({ eps, accuracy: await accuracyAt(clf, ds, norm, eps, seed) });
    onProgress?.(out.length, budgets.length);
  }
  return out;
}

async function accuracyAt(clf: Classifier, ds: Dataset, norm: Norm, eps: number, seed: number): Promise<number> {
  const threat = lpThreat(norm, norm === 'l0' ? Math.round(eps) : eps);
  const pgd = await runAttack(clf, ds, new Pgd({ steps: 20 }), { threat, seed });
  if (eps === 0) return pgd.clean_accuracy;
  // APGD on the points PGD left: per-example worst case of the two.
  const apgd = await runAttack(clf, ds, new Apgd({ steps: 100 }), { threat, seed: deriveSeed(seed, 'eps-curve-apgd') });
  let robust = 0;
  for (let i = 0; i < ds.n; i++) if (pgd.robust[i] && apgd.robust[i]) robust++;
  return ds.n ? robust / ds.n : 0;
}
