import * as tf from '@tensorflow/tfjs-core';
import type { Domain } from '../data/domain.js';

/**
 * Clips a batch into the domain box. Scalar bounds use clipByValue; per-feature bounds are
 * broadcast over the batch (a bound array of length prod(inputShape) is laid out like one example).
 *
 * @example
 * ```ts
 * const inside = clipToDomain(xAdv, { lower: 0, upper: 1 });
 * ```
 */
export function clipToDomain(x: tf.Tensor, domain: Domain): tf.Tensor {
  if (typeof domain.lower === 'number' && typeof domain.upper === 'number') {
    return tf.clipByValue(x, domain.lower, domain.upper);
  }
  return tf.tidy(() => {
    const shape = x.shape.slice(1);
    const bound = (b: number | Float32Array) => (typeof b === 'number' ? tf.scalar(b) : tf.tensor(b, shape));
    return tf.minimum(tf.maximum(x, bound(domain.lower)), bound(domain.upper));
  });
}
