import type { Classifier } from '../model/classifier.js';
import type { Dataset } from '../data/dataset.js';
import { lpThreat } from '../threat/threat-model.js';
import type { Attack } from '../attacks/attack.js';
import { Fab } from '../attacks/fab.js';
import { DeepFool } from '../attacks/deepfool.js';
import { CwL2 } from '../attacks/cw-l2.js';
import { runAttack } from './attack-run.js';
import { histogram, linspace } from './margin.js';
import { summarize } from './stats.js';
import type { MinimalNorm } from './schema.js';

/**
 * Minimal-perturbation norms: FAB, DeepFool (L2 and Linf) and CW-L2 run with an unbounded
 * budget on the clean-correct examples; the distribution of the distances they needed.
 * `onProgress(done, total)` counts the attack runs.
 *
 * @example
 * ```ts
 * const norms = await minimalNorms(clf, subset(test, 200), ['l2']);
 * console.log(norms['deepfool-l2'].median);
 * ```
 */
export async function minimalNorms(
  clf: Classifier,
  ds: Dataset,
  norms: ('l2' | 'linf')[],
  seed = 0,
  onProgress?: (done: number, total: number) => void,
): Promise<Record<string, MinimalNorm>> {
  const out: Record<string, MinimalNorm> = {};
  const d = ds.shape.reduce((a, b) => a * b, 1);
  const attacksFor = (norm: 'l2' | 'linf'): Attack[] => (norm === 'l2' ? [new DeepFool(), new Fab(), new CwL2()] : [new DeepFool(), new Fab()]);
  const total = norms.reduce((s, norm) => s + attacksFor(norm).length, 0);
  let done = 0;
  onProgress?.(0, total);
  for (const norm of norms) {
    const unbounded = lpThreat(norm, norm === 'l2' ? Math.sqrt(d) * 2 : 2);
    for (const attack of attacksFor(norm)) {
      const r = await runAttack(clf, ds, attack, { threat: unbounded, seed });
      onProgress?.(++done, total);
      const sizes: number[] = [];
      for (let i = 0; i < ds.n; i++) if (r.cleanCorrect[i] && !r.robust[i]) sizes.push(r.distances[i]!);
      if (sizes.length === 0) continue;
      const s = summarize(sizes);
      out[`${attack.name}-${norm}`] = { norm, median: s.median!, mean: s.mean!, histogram: histogram(sizes, linspace(0, s.max! * 1.0001, 20)) };
    }
  }
  return out;
}
