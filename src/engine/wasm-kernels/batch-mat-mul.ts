import * as tf from '@tensorflow/tfjs-core';
import { asTensor, runOriginal, type KernelArgs } from './util.js';

/** Swaps the last two axes. */
function swapLast(t: tf.Tensor): tf.Tensor {
  const r = t.rank;
  const perm = [...Array(r).keys()];
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return tf.transpose(t, perm);
}

/**
 * `BatchMatMul` for wasm with `transposeA` / `transposeB`. tfjs-backend-wasm's kernel leaves
 * XNNPACK's fast path when either flag is set (10–30× slower on dense-layer gradient shapes),
 * and every dense layer's backward pass sets one. This kernel rewrites the product as a plain
 * matmul plus explicit transposes, choosing the rewrite that transposes the fewest elements:
 * - Aᵀ·B  = transpose(A)·B           or  (transpose(B)·A)ᵀ
 * - A·Bᵀ  = A·transpose(B)           or  (B·transpose(A))ᵀ
 * - Aᵀ·Bᵀ = (B·A)ᵀ                   or  transpose(A)·transpose(B)
 * Without flags (or for non-float32 inputs) it runs the original kernel.
 */
export function batchMatMul(args: KernelArgs): tf.TensorInfo {
  const { inputs, attrs } = args;
  const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
  const a = asTensor(inputs.a);
  const b = asTensor(inputs.b);
  if ((!transposeA && !transposeB) || a.dtype !== 'float32' || b.dtype !== 'float32' || a.rank < 2 || b.rank < 2) {
    return runOriginal(tf.BatchMatMul, args) as tf.TensorInfo;
  }
  // Logical sizes: C[M, N] = op(A)[M, K] · op(B)[K, N].
  const M = transposeA ? a.shape[a.rank - 1] : a.shape[a.rank - 2];
  const N = transposeB ? b.shape[b.rank - 2] : b.shape[b.rank - 1];
  const sizeA = a.size;
  const sizeB = b.size;
  const batch = Math.max(sizeA / (a.shape[a.rank - 1] * a.shape[a.rank - 2]), sizeB / (b.shape[b.rank - 1] * b.shape[b.rank - 2]));
  const sizeC = batch * M * N;
  return tf.tidy(() => {
    if (transposeA && transposeB) {
      return sizeC <= sizeA + sizeB ? swapLast(tf.matMul(b, a)) : tf.matMul(swapLast(a), swapLast(b));
    }
    if (transposeA) {
      return sizeA <= sizeB + sizeC ? tf.matMul(swapLast(a), b) : swapLast(tf.matMul(swapLast(b), a));
    }
    return sizeB <= sizeA + sizeC ? tf.matMul(a, swapLast(b)) : swapLast(tf.matMul(b, swapLast(a)));
  });
}

export const batchMatMulConfig: tf.KernelConfig = {
  kernelName: tf.BatchMatMul,
  backendName: 'wasm',
  kernelFunc: batchMatMul as unknown as tf.KernelFunc,
};
