/**
 * The softmax cross-entropy every training loss and the attacks' 'ce' objective take: one function,
 * one kernel forward and one backward on the native engine (src/engine/native/kernels/cross-entropy.ts),
 * tfjs's own composition on every other backend and for inputs the kernel does not take, so the
 * values are the same everywhere within float32 rounding (test/cross-entropy.test.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { crossEntropyKernelActive, crossEntropyShapesOk, SOFTMAX_CROSS_ENTROPY, type CrossEntropyReduction } from './native/kernels/cross-entropy.js';

export type { CrossEntropyReduction };

const TFJS_REDUCTION: Record<CrossEntropyReduction, tf.Reduction> = {
  none: tf.Reduction.NONE,
  sum: tf.Reduction.SUM,
  mean: tf.Reduction.SUM_BY_NONZERO_WEIGHTS, // with no weights: the sum over the batch size
};

/**
 * Softmax cross-entropy of `logits` [b, k] against `labels`: int32 class indices [b] (the loss is
 * −log softmax(z)[y]) or label distributions [b, k], e.g. one-hot (−Σ y·log softmax(z)); per row
 * ([b], `reduction` 'none'), or their sum or mean (a scalar). Differentiable in the logits: the
 * gradient is (softmax − y)·dy per row.
 *
 * On the native engine one kernel each way; elsewhere tfjs's composition (for distributions exactly
 * `tf.losses.softmaxCrossEntropy`; for class indices the log-softmax read through a one-hot mask).
 * Rows with infinite logits may differ: the kernel gives the limit, the composition NaN.
 *
 * @example
 * ```ts
 * const loss = softmaxCrossEntropy(clf.trainingLogits(xs), ysOneHot, 'mean'); // a training loss
 * const perExample = softmaxCrossEntropy(clf.logits(x), labels); // [b], an attack's objective
 * ```
 */
export function softmaxCrossEntropy(logits: tf.Tensor, labels: tf.Tensor, reduction?: 'none'): tf.Tensor1D;
export function softmaxCrossEntropy(logits: tf.Tensor, labels: tf.Tensor, reduction: 'sum' | 'mean'): tf.Scalar;
export function softmaxCrossEntropy(logits: tf.Tensor, labels: tf.Tensor, reduction: CrossEntropyReduction): tf.Tensor;
export function softmaxCrossEntropy(logits: tf.Tensor, labels: tf.Tensor, reduction: CrossEntropyReduction = 'none'): tf.Tensor {
  if (crossEntropyKernelActive() && crossEntropyShapesOk(logits, labels)) {
    return tf.engine().runKernel(SOFTMAX_CROSS_ENTROPY, { logits, labels }, { reduction }) as tf.Tensor;
  }
  return softmaxCrossEntropyComposition(logits, labels, reduction);
}

/** tfjs's composition, what {@link softmaxCrossEntropy} runs off the native engine (exported for the tests and benches). */
export function softmaxCrossEntropyComposition(logits: tf.Tensor, labels: tf.Tensor, reduction: CrossEntropyReduction = 'none'): tf.Tensor {
  if (labels.rank !== 1) return tf.losses.softmaxCrossEntropy(labels, logits, undefined, undefined, TFJS_REDUCTION[reduction]);
  return tf.tidy(() => {
    const rows = tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(labels, logits.shape[logits.rank - 1]!)), 1));
    return reduction === 'none' ? rows : reduction === 'sum' ? tf.sum(rows) : tf.mean(rows);
  });
}
