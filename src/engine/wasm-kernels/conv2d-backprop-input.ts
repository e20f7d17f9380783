import * as tf from '@tensorflow/tfjs-core';
import { asTensor, runOriginal, type KernelArgs, type WasmBackendLike } from './util.js';

/**
 * `Conv2DBackpropInput` for wasm: the gradient of a 2-D convolution with respect to its input
 * (also `conv2dTranspose`). Replaces tfjs-backend-wasm's own kernel, a naive C++ loop that is
 * 5–10× slower than a forward convolution on model-sized shapes.
 *
 * Two routes, picked by shape (both measured in bench/wasm-kernels.ts):
 * - stride 1 and ≥ 8 input channels: one forward convolution (XNNPACK) of dy, padded by
 *   (K − 1 − pad), with the filter flipped in space and its in/out channels swapped;
 * - otherwise (first layers with 1–3 channels, strided layers): a matmul
 *   dy[N, Cout] · Wᵀ[Cout, KH·KW·Cin] giving per-position columns, scattered back (col2im)
 *   by a JS loop over the wasm heap. This avoids the zero-stuffing that a strided transposed
 *   convolution would need and XNNPACK's poor speed with very few output channels.
 *
 * NCHW inputs go to the original kernel.
 */
export function conv2DBackpropInput(args: KernelArgs): tf.TensorInfo {
  const { inputs, attrs } = args;
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as tf.Conv2DBackpropInputAttrs;
  if (dataFormat === 'NCHW') return runOriginal(tf.Conv2DBackpropInput, args) as tf.TensorInfo;
  const dy = asTensor<tf.Tensor4D>(inputs.dy);
  const filter = asTensor<tf.Tensor4D>(inputs.filter);
  const info = tf.backend_util.computeConv2DInfo(
    inputShape, filter.shape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const [B, H, W, Cin] = inputShape;
  const [KH, KW, , Cout] = filter.shape;
  const [, OH, OW] = dy.shape;
  const sh = info.strideHeight;
  const sw = info.strideWidth;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  if (B * H * W * Cin === 0 || B * OH * OW === 0) return tf.zeros(inputShape, 'float32');

  // Route 1: a single stride-1 convolution with the flipped filter.
  const ptn = KH - 1 - pt;
  const pln = KW - 1 - pl;
  const pbn = H + KH - 1 - ptn - OH;
  const prn = W + KW - 1 - pln - OW;
  if (sh === 1 && sw === 1 && Cin >= 8 && ptn >= 0 && pln >= 0 && pbn >= 0 && prn >= 0) {
    return tf.tidy(() => {
      const wf = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
      return tf.conv2d(dy, wf, 1, [[0, 0], [ptn, pbn], [pln, prn], [0, 0]]);
    });
  }

  // Route 2: matmul to columns, then col2im in JS.
  const backend = args.backend as WasmBackendLike;
  const K = KH * KW * Cin;
  const cols = tf.tidy(() =>
    tf.matMul(tf.reshape(dy, [B * OH * OW, Cout]), tf.transpose(tf.reshape(filter, [K, Cout]))));
  const outInfo = backend.makeOutput([B, H, W, Cin], 'float32');
  // Views are taken after every allocation: a heap growth would detach earlier ones.
  const out = backend.typedArrayFromHeap(outInfo) as Float32Array;
  const c = backend.typedArrayFromHeap(cols) as Float32Array;
  out.fill(0);
  let co = 0;
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const ih0 = oh * sh - pt;
      for (let ow = 0; ow < OW; ow++, co += K) {
        const iw0 = ow * sw - pl;
        for (let kh = 0; kh < KH; kh++) {
          const ih = ih0 + kh;
          if (ih < 0 || ih >= H) continue;
          const rowBase = (b * H + ih) * W;
          for (let kw = 0; kw < KW; kw++) {
            const iw = iw0 + kw;
            if (iw < 0 || iw >= W) continue;
            const src = co + (kh * KW + kw) * Cin;
            const dst = (rowBase + iw) * Cin;
            for (let ci = 0; ci < Cin; ci++) out[dst + ci] += c[src + ci];
          }
        }
      }
    }
  }
  cols.dispose();
  return outInfo;
}

export const conv2DBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput as unknown as tf.KernelFunc,
};
