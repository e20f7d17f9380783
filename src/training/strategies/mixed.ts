import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../../errors.js';
import type { TrainingStrategy } from '../strategy.js';
import type { Classifier } from '../../model/classifier.js';
import { ce, craft, type Crafting } from './adversarial.js';

/** Number of adversarial rows in a batch of `b` at ratio `r`. */
export function adversarialRows(b: number, r: number): number {
  return Math.round(b * r);
}

/**
 * The augmented data set of Goodfellow et al. 2015: in each batch a share `ratio` of the
 * examples is replaced by its adversarial version, and the model trains on the mix.
 *
 * @example
 * ```ts
 * const s = mixed(0.5, { steps: 1, stepFactor: 1, randomStart: false, loss: 'ce' }); // half clean, half FGSM
 * ```
 */
export function mixed(
  ratio: number,
  c: Crafting,
  name = 'mixed',
  /** The model the adversarial rows are crafted on (default: the model being trained). */
  source: (clf: Classifier) => Classifier = (clf) => clf,
): TrainingStrategy {
  if (!(ratio >= 0 && ratio <= 1)) throw new UserError(`--adv-ratio must be in [0, 1] (got ${ratio})`);
  return {
    name,
    params: { ratio, ...c },
    prepare(clf, ctx) {
      const b = ctx.xs.shape[0]!;
      const m = adversarialRows(b, ratio);
      if (m === 0) return ctx.xs.clone();
      return tf.tidy(() => {
        const adv = craft(source(clf), ctx, c, tf.slice(ctx.xs, 0, m), tf.slice(ctx.labels, 0, m));
        return m === b ? adv : tf.concat([adv, tf.slice(ctx.xs, m)], 0);
      });
    },
    loss(clf, ctx, x) {
      const b = ctx.xs.shape[0]!;
      const m = adversarialRows(b, ratio);
      const logits = clf.trainingLogits(x!);
      return {
        loss: ce(ctx.ys, logits),
        ...(m > 0 ? { adv: { logits: tf.slice(logits, 0, m) as tf.Tensor2D } } : {}),
        ...(m < b ? { clean: { logits: tf.slice(logits, m) as tf.Tensor2D, from: m } } : {}),
      };
    },
  };
}
