import * as tf from '@tensorflow/tfjs-core';
import { runOriginal, type KernelArgs, type WasmBackendLike } from './util.js';

/**
 * `GatherV2` for wasm along the FIRST axis (embedding look-ups): copies whole rows with
 * `TypedArray.set` block copies over the wasm heap, measured several times faster than
 * tfjs-backend-wasm's kernel on a 20,000×64 table (bench/wasm-kernels.ts). Out-of-range indices throw the same error as the original kernel.
 * Other axes, `batchDims > 0` and other dtypes run the original kernel.
 */
export function gatherV2(args: KernelArgs): tf.TensorInfo {
  const { inputs, attrs, backend } = args;
  const { x, indices } = inputs;
  const { axis, batchDims } = attrs as unknown as tf.GatherV2Attrs;
  const parsedAxis = tf.util.parseAxisParam(axis, x.shape)[0];
  if (parsedAxis !== 0 || (batchDims ?? 0) !== 0 || (x.dtype !== 'float32' && x.dtype !== 'int32') || indices.dtype !== 'int32') {
    return runOriginal(tf.GatherV2, args) as tf.TensorInfo;
  }
  const be = backend as WasmBackendLike;
  const rows = x.shape[0];
  const inner = rows === 0 ? 0 : tf.util.sizeFromShape(x.shape) / rows;
  const n = tf.util.sizeFromShape(indices.shape);
  const outInfo = be.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
  const out = be.typedArrayFromHeap(outInfo) as Float32Array | Int32Array;
  const xs = be.typedArrayFromHeap(x) as Float32Array | Int32Array;
  const idx = be.typedArrayFromHeap(indices) as Int32Array;
  for (let i = 0; i < n; i++) {
    const r = idx[i];
    if (r < 0 || r >= rows) {
      (args.backend as { disposeData(id: object): void }).disposeData(outInfo.dataId);
      throw new Error(`GatherV2: the index value ${r} is not in [0, ${rows - 1}]`);
    }
    out.set(xs.subarray(r * inner, (r + 1) * inner), i * inner);
  }
  return outInfo;
}

export const gatherV2Config: tf.KernelConfig = {
  kernelName: tf.GatherV2,
  backendName: 'wasm',
  kernelFunc: gatherV2 as unknown as tf.KernelFunc,
};
