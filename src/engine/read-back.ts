import * as tf from '@tensorflow/tfjs-core';

/**
 * The values of the tensor `fn` makes, read back to the host, with the tensor and every
 * intermediate freed. Use it instead of `tf.tidy(() => t.dataSync())`: tf.tidy walks whatever its
 * function returns in search of tensors, and walks a typed array element by element (measured:
 * 1.2 ms for 2,560 floats, 17 ms for 30,000 — longer than a forward pass of the batch they came from).
 *
 * @example
 * ```ts
 * const pred = readBack(() => tf.argMax(clf.logits(x), 1)) as Int32Array;
 * ```
 */
export function readBack(fn: () => tf.Tensor): Float32Array | Int32Array | Uint8Array {
  const t = tf.tidy(fn);
  try {
    return t.dataSync() as Float32Array | Int32Array | Uint8Array;
  } finally {
    t.dispose();
  }
}
