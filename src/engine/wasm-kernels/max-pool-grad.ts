import * as tf from '@tensorflow/tfjs-core';
import { type KernelArgs, type WasmBackendLike } from './util.js';

/**
 * `MaxPoolGrad` for wasm: routes each output gradient to the input position that held the
 * window's maximum. Replaces tfjs-backend-wasm's kernel (a per-input-pixel loop that costs
 * ~40× the forward pool) with one pass over the output positions in JS on the wasm heap.
 *
 * Ties and NaNs follow tfjs's cpu backend exactly: the gradient goes to the FIRST position (row
 * by row, then column) whose value is strictly greater than everything before it, starting from
 * −∞; a window without such a value (all NaN or −∞) passes no gradient.
 */
export function maxPoolGrad({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo {
  const { dy, input } = inputs;
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  const be = backend as WasmBackendLike;
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const outInfo = be.makeOutput(input.shape, 'float32');
  const dx = be.typedArrayFromHeap(outInfo) as Float32Array;
  const x = be.typedArrayFromHeap(input) as Float32Array;
  const g = be.typedArrayFromHeap(dy) as Float32Array;
  dx.fill(0);
  let o = 0;
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const r0 = oh * sh - pt;
      const rMin = Math.max(0, r0);
      const rMax = Math.min(H, r0 + fh);
      for (let ow = 0; ow < OW; ow++, o += C) {
        const c0 = ow * sw - pl;
        const cMin = Math.max(0, c0);
        const cMax = Math.min(W, c0 + fw);
        for (let d = 0; d < C; d++) {
          let best = -Infinity;
          let at = -1;
          for (let r = rMin; r < rMax; r++) {
            let i = ((b * H + r) * W + cMin) * C + d;
            for (let cc = cMin; cc < cMax; cc++, i += C) {
              const v = x[i];
              if (v > best) {
                best = v;
                at = i;
              }
            }
          }
          if (at >= 0) dx[at] += g[o + d];
        }
      }
    }
  }
  return outInfo;
}

export const maxPoolGradConfig: tf.KernelConfig = {
  kernelName: tf.MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as tf.KernelFunc,
};
