import * as tf from '@tensorflow/tfjs-core';
import { asTensor, type KernelArgs } from './util.js';

/**
 * `Conv2DBackpropFilter` for wasm: the gradient of a 2-D convolution with respect to its filter,
 * dW[kh, kw, ci, co] = Σ_{b, oh, ow} xPadded[b, oh·s + kh, ow·s + kw, ci] · dy[b, oh, ow, co].
 *
 * tfjs-backend-wasm 4.22 has no such kernel, so no convnet can be trained on wasm without it.
 * It is computed as ONE forward convolution (XNNPACK's fast path) with the roles swapped: the
 * padded input, transposed to [Cin, H', W', B], is convolved with dy transposed to
 * [OH, OW, B, Cout] used as the filter, with the forward stride becoming the filter dilation;
 * the [Cin, KH, KW, Cout] result is transposed to [KH, KW, Cin, Cout]. Measured faster than an
 * im2col + matmul or a per-tap matmul (see bench/wasm-kernels.ts).
 */
export function conv2DBackpropFilter({ inputs, attrs }: KernelArgs): tf.TensorInfo {
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const x0 = asTensor<tf.Tensor4D>(inputs.x);
  const dy0 = asTensor<tf.Tensor4D>(inputs.dy);
  return tf.tidy(() => {
    const channelsFirst = dataFormat === 'NCHW';
    const x = channelsFirst ? tf.transpose(x0, [0, 2, 3, 1]) : x0;
    const dy = channelsFirst ? tf.transpose(dy0, [0, 2, 3, 1]) : dy0;
    const info = tf.backend_util.computeConv2DInfo(
      x.shape, filterShape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, 'channelsLast');
    const [B, H, W, Cin] = x.shape;
    const [, OH, OW] = dy.shape;
    const [KH, KW] = filterShape;
    const sh = info.strideHeight;
    const sw = info.strideWidth;
    const pt = info.padInfo.top;
    const pl = info.padInfo.left;
    if (B * OH * OW === 0) return tf.zeros(filterShape, 'float32');
    // Rows/cols of the padded input that the filter taps actually touch, starting at -pt / -pl.
    const nh = KH + (OH - 1) * sh;
    const nw = KW + (OW - 1) * sw;
    let xs: tf.Tensor4D = x;
    const padB = Math.max(0, nh - H - pt);
    const padR = Math.max(0, nw - W - pl);
    if (pt > 0 || pl > 0 || padB > 0 || padR > 0) {
      xs = tf.pad(xs, [[0, 0], [pt, padB], [pl, padR], [0, 0]]);
    }
    if (xs.shape[1] !== nh || xs.shape[2] !== nw) xs = tf.slice(xs, [0, 0, 0, 0], [B, nh, nw, Cin]);
    const xT = tf.transpose(xs, [3, 1, 2, 0]); // [Cin, nh, nw, B]
    const dyT = tf.transpose(dy, [1, 2, 0, 3]); // [OH, OW, B, Cout]
    const r = tf.conv2d(xT, dyT, 1, 'valid', 'NHWC', [sh, sw]); // [Cin, KH, KW, Cout]
    return tf.transpose(r, [1, 2, 0, 3]);
  });
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
};
