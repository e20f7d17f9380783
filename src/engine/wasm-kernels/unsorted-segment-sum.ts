import * as tf from '@tensorflow/tfjs-core';
import { type KernelArgs, type WasmBackendLike } from './util.js';

/**
 * `UnsortedSegmentSum` for wasm: out[s, ...] = Σ_{i : segmentIds[i] = s} x[i, ...].
 *
 * tfjs-backend-wasm 4.22 has no such kernel; it is the gradient of `GatherV2`, so embedding
 * layers cannot be trained on wasm without it. One JS pass over the wasm heap adds each row of
 * x into its segment's row: O(size of x + size of out), e.g. ~1 ms for the gradient of a
 * 20,000×64 embedding table with 64×100 tokens (a one-hot matmul would cost 8 GFLOP). Ids
 * outside [0, numSegments) are dropped, as in tfjs's cpu backend.
 */
export function unsortedSegmentSum({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo {
  const { x, segmentIds } = inputs;
  const { numSegments } = attrs as unknown as tf.UnsortedSegmentSumAttrs;
  const be = backend as WasmBackendLike;
  const n = tf.util.sizeFromShape(segmentIds.shape);
  const inner = n === 0 ? 0 : tf.util.sizeFromShape(x.shape) / n;
  const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
  const dtype = x.dtype === 'int32' ? 'int32' : 'float32';
  const outInfo = be.makeOutput(outShape, dtype);
  const out = be.typedArrayFromHeap(outInfo) as Float32Array | Int32Array;
  const xs = be.typedArrayFromHeap(x) as Float32Array | Int32Array;
  const ids = be.typedArrayFromHeap(segmentIds) as Int32Array;
  out.fill(0);
  for (let i = 0; i < n; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) out[dst + j] += xs[src + j];
  }
  return outInfo;
}

export const unsortedSegmentSumConfig: tf.KernelConfig = {
  kernelName: tf.UnsortedSegmentSum,
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc,
};
