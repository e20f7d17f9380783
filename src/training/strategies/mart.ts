import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../../errors.js';
import type { TrainingStrategy } from '../strategy.js';
import { craft, klRows } from './adversarial.js';
import { crossEntropy } from '../../attacks/losses.js';

/**
 * The MART objective (Wang et al. 2020):
 * BCE(f(x'), y) + λ · mean_i KL(p(x_i) ‖ p(x'_i)) · (1 − p_y(x_i)), where
 * BCE = −log p_y(x') − log(1 − max_{k≠y} p_k(x')).
 *
 * @example
 * ```ts
 * const l = martLoss(labels, natLogits, advLogits, 6);
 * ```
 */
export function martLoss(labels: tf.Tensor1D, natLogits: tf.Tensor2D, advLogits: tf.Tensor2D, lambda: number): tf.Scalar {
  return tf.tidy(() => {
    const c = advLogits.shape[1];
    const pAdv = tf.softmax(advLogits);
    const onehot = tf.oneHot(labels, c);
    const ceAdv = crossEntropy(advLogits, labels);
    const otherMax = tf.max(tf.sub(pAdv, tf.mul(onehot, 2)), 1);
    const boost = tf.neg(tf.log(tf.add(tf.sub(1.0001, otherMax), 1e-12)));
    const pNat = tf.softmax(natLogits);
    const trueNat = tf.sum(tf.mul(pNat, onehot), 1);
    const robust = tf.mean(tf.mul(klRows(natLogits, advLogits), tf.sub(1.0000001, trueNat)));
    return tf.add(tf.mean(tf.add(ceAdv, boost)), tf.mul(lambda, robust)) as tf.Scalar;
  });
}

/**
 * MART (Wang et al. 2020, "Improving adversarial robustness requires revisiting misclassified
 * examples"): PGD-k examples on CE; boosted CE on them plus a KL term weighted towards the
 * examples the model misclassifies.
 *
 * @example
 * ```ts
 * const s = mart({ lambda: 6, steps: 10 });
 * ```
 */
export function mart(o: { lambda?: number; steps?: number; stepFactor?: number } = {}): TrainingStrategy {
  const lambda = o.lambda ?? 6;
  const steps = o.steps ?? 10;
  const stepFactor = o.stepFactor ?? 2.5 / steps;
  if (!(lambda >= 0)) throw new UserError(`--beta (MART's λ) must be ≥ 0 (got ${lambda})`);
  return {
    name: 'mart',
    params: { lambda, steps, stepFactor },
    prepare: (clf, ctx) => craft(clf, ctx, { steps, stepFactor, randomStart: true, loss: 'ce' }),
    loss(clf, ctx, xAdv) {
      const nat = clf.trainingLogits(ctx.xs);
      const adv = clf.trainingLogits(xAdv!);
      return { loss: martLoss(ctx.labels, nat, adv, lambda), clean: { logits: nat }, adv: { logits: adv } };
    },
  };
}
