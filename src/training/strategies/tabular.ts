import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../../errors.js';
import type { Classifier } from '../../model/classifier.js';
import type { TrainingStrategy, BatchContext } from '../strategy.js';
import { capgdPerturb, CAPGD_DEFAULTS } from '../../attacks/capgd.js';
import { moevaSearch, MOEVA_DEFAULTS } from '../../attacks/moeva.js';
import { ce } from './adversarial.js';
import { adversarialRows } from './mixed.js';

/** Crafts valid adversarial records for some rows of a batch (the caller disposes the result). */
type CraftRows = (clf: Classifier, ctx: BatchContext, x: tf.Tensor, y: tf.Tensor1D) => tf.Tensor;

/**
 * Training on a mix: in each batch a share `ratio` of the rows is replaced by adversarial
 * records from a constrained attack (valid in the data's domain: grids, one-hot groups,
 * immutables, relations), the rest stay clean.
 */
function constrainedMix(name: string, ratio: number, params: Record<string, unknown>, craftRows: CraftRows): TrainingStrategy {
  if (!(ratio >= 0 && ratio <= 1)) throw new UserError(`--adv-ratio must be in [0, 1] (got ${ratio})`);
  return {
    name,
    params: { ratio, ...params },
    prepare(clf, ctx) {
      const b = ctx.xs.shape[0]!;
      const m = adversarialRows(b, ratio);
      if (m === 0 || !ctx.threat || ctx.threat.eps === 0) return ctx.xs.clone();
      const [xs, ys] = [tf.slice(ctx.xs, 0, m), tf.slice(ctx.labels, 0, m)];
      const adv = craftRows(clf, ctx, xs, ys);
      const out = m === b ? adv : tf.tidy(() => tf.concat([adv, tf.slice(ctx.xs, m)], 0));
      if (out !== adv) adv.dispose();
      tf.dispose([xs, ys]);
      return out;
    },
    loss(clf, ctx, x) {
      const b = ctx.xs.shape[0]!;
      const m = ctx.threat && ctx.threat.eps > 0 ? adversarialRows(b, ratio) : 0;
      const logits = clf.trainingLogits(x!);
      return {
        loss: ce(ctx.ys, logits),
        ...(m > 0 ? { adv: { logits: tf.slice(logits, 0, m) as tf.Tensor2D } } : {}),
        ...(m < b ? { clean: { logits: tf.slice(logits, m) as tf.Tensor2D, from: m } } : {}),
      };
    },
  };
}

/**
 * CAPGD adversarial training for tabular data (as CAA's authors train robust tabular models):
 * a share `ratio` of each batch is replaced by CAPGD's best valid record (`steps` steps), so the
 * model learns from records the network could really produce.
 *
 * @example
 * ```ts
 * const s = capgdAt({ ratio: 0.5, steps: 10 });
 * ```
 */
export function capgdAt(o: { ratio?: number; steps?: number } = {}): TrainingStrategy {
  const steps = o.steps ?? 10;
  if (!Number.isInteger(steps) || steps < 1) throw new UserError(`--attack-steps must be a positive integer (got ${steps})`);
  const p = { ...CAPGD_DEFAULTS, steps };
  return constrainedMix('capgd-at', o.ratio ?? 0.5, { steps }, (clf, ctx, x, y) => capgdPerturb(clf, x, y, ctx.threat!, p, { seed: ctx.seed }).xAdv);
}

/**
 * MOEVA-augmented training: a share `ratio` of each batch is replaced by MOEVA's record (its
 * valid success of least distance, else its valid record of least margin), found without
 * gradients in `generations` generations.
 *
 * @example
 * ```ts
 * const s = moevaAugmented({ ratio: 0.5, generations: 10 });
 * ```
 */
export function moevaAugmented(o: { ratio?: number; generations?: number } = {}): TrainingStrategy {
  const generations = o.generations ?? 10;
  if (!Number.isInteger(generations) || generations < 1) throw new UserError(`--attack-steps must be a positive integer (got ${generations})`);
  const p = { ...MOEVA_DEFAULTS, population: 12, generations };
  return constrainedMix('moeva-aug', o.ratio ?? 0.5, { generations, population: p.population }, (clf, ctx, x, y) => moevaSearch(clf, x, y, ctx.threat!, p, { seed: ctx.seed }).xAdv);
}
