import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../../model/classifier.js';
import { pgdPerturb } from '../../attacks/pgd.js';
import type { AttackLoss } from '../../attacks/losses.js';
import type { BatchContext } from '../strategy.js';
import { softmaxCrossEntropy } from '../../engine/cross-entropy.js';

/** How a strategy crafts its training-time adversarial examples (an iterated, projected ascent). */
export interface Crafting {
  /** Gradient steps (1 = FGSM-like). */
  steps: number;
  /** Step length as a multiple of ε (the step follows ε during warm-up). */
  stepFactor: number;
  randomStart: boolean;
  loss: AttackLoss;
  /** Clip the random start into the domain before the first gradient (default true; FGSM-RS: false, as Wong et al.). */
  clipStart?: boolean;
}

/**
 * Adversarial versions of the batch inputs under the batch's (warmed-up) threat, crafted with
 * the model in inference mode (dropout off), as Madry et al. and TRADES do.
 *
 * @example
 * ```ts
 * const xAdv = craft(clf, ctx, { steps: 1, stepFactor: 1.25, randomStart: true, loss: 'ce' }); // FGSM-RS
 * ```
 */
export function craft(clf: Classifier, ctx: BatchContext, c: Crafting, x: tf.Tensor = ctx.xs, y: tf.Tensor1D = ctx.labels): tf.Tensor {
  const threat = ctx.threat;
  if (!threat) throw new Error('adversarial training needs a threat model');
  if (threat.eps === 0) return x.clone();
  return pgdPerturb(clf, x, y, threat, { steps: c.steps, stepSize: c.stepFactor * threat.eps, randomStart: c.randomStart, loss: c.loss, seed: ctx.seed, clipStart: c.clipStart });
}

/** Mean softmax cross-entropy of logits against one-hot labels. */
export function ce(ys: tf.Tensor2D, logits: tf.Tensor2D): tf.Scalar {
  return softmaxCrossEntropy(logits, ys, 'mean');
}

/** Per-example KL(p‖q) between the softmax distributions of two logit batches, [b]. */
export function klRows(pLogits: tf.Tensor2D, qLogits: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const lp = tf.logSoftmax(pLogits);
    const lq = tf.logSoftmax(qLogits);
    return tf.sum(tf.mul(tf.exp(lp), tf.sub(lp, lq)), 1) as tf.Tensor1D;
  });
}
