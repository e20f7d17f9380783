import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.js';
import { softmaxCrossEntropy } from '../engine/cross-entropy.js';

/** Losses an attack can ascend. */
export type AttackLoss = 'ce' | 'cw' | 'dlr';
export const ATTACK_LOSSES: AttackLoss[] = ['ce', 'cw', 'dlr'];

const BIG = 1e9;

/** Largest logit other than class `c` (per example), shape [b]. */
export function maxOther(logits: tf.Tensor2D, c: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const mask = tf.oneHot(c, logits.shape[1]);
    return tf.max(tf.sub(logits, tf.mul(mask, BIG)), 1) as tf.Tensor1D;
  });
}

/** Logit of class `c` (per example), shape [b]. */
export function logitOf(logits: tf.Tensor2D, c: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => tf.sum(tf.mul(logits, tf.oneHot(c, logits.shape[1])), 1) as tf.Tensor1D);
}

/** Per-example softmax cross-entropy, shape [b] (one kernel each way on the native engine). */
export function crossEntropy(logits: tf.Tensor2D, c: tf.Tensor1D): tf.Tensor1D {
  return softmaxCrossEntropy(logits, c);
}

/**
 * Difference of Logits Ratio (Croce & Hein 2020), per example: scale-invariant margin.
 * Untargeted: −(z_y − max_{j≠y} z_j) / (z_π1 − z_π3).
 * Targeted:   −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2).
 */
export function dlr(logits: tf.Tensor2D, y: tf.Tensor1D, target?: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const k = Math.min(4, logits.shape[1]);
    // topk has no gradient in TF.js: take the ranks from a copy off the tape, read logits through one-hot masks.
    const idx = tf.topk(tf.tensor(logits.dataSync(), logits.shape), k).indices;
    const col = (i: number) => logitOf(logits, tf.reshape(tf.slice(idx, [0, Math.min(i, k - 1)], [-1, 1]), [-1]) as tf.Tensor1D);
    if (target) {
      const denom = tf.add(tf.sub(col(0), tf.div(tf.add(col(2), col(3)), 2)), 1e-12);
      return tf.neg(tf.div(tf.sub(logitOf(logits, y), logitOf(logits, target)), denom)) as tf.Tensor1D;
    }
    const denom = tf.add(tf.sub(col(0), col(2)), 1e-12);
    return tf.neg(tf.div(tf.sub(logitOf(logits, y), maxOther(logits, y)), denom)) as tf.Tensor1D;
  });
}

/**
 * The per-example objective an attack maximises ([b]); larger means closer to success.
 * Targeted attacks use the target's view of each loss.
 *
 * @example
 * ```ts
 * const g = tf.grad((xi) => tf.sum(attackObjective('ce', clf.logits(xi), y)))(x);
 * ```
 */
export function attackObjective(loss: AttackLoss, logits: tf.Tensor2D, y: tf.Tensor1D, target?: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    switch (loss) {
      case 'ce':
        return target ? tf.neg(crossEntropy(logits, target)) : crossEntropy(logits, y);
      case 'cw':
        return target ? tf.sub(logitOf(logits, target), maxOther(logits, target)) : tf.sub(maxOther(logits, y), logitOf(logits, y));
      case 'dlr':
        return dlr(logits, y, target);
    }
  }) as tf.Tensor1D;
}

/** Checks a loss name from the CLI or a config. */
export function checkLoss(name: string): AttackLoss {
  if (!ATTACK_LOSSES.includes(name as AttackLoss)) throw new UserError(`unknown attack loss '${name}': choose one of ${ATTACK_LOSSES.join(', ')}`);
  return name as AttackLoss;
}

/** Per-example success: misclassified (untargeted) or classified as the target, [b] bool. */
export function isSuccess(logits: tf.Tensor2D, y: tf.Tensor1D, target?: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const pred = tf.argMax(logits, 1);
    return (target ? tf.equal(pred, target) : tf.notEqual(pred, y)) as tf.Tensor1D;
  });
}
