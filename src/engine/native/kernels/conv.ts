/** Conv2D and FusedConv2D (+ bias, + relu), and their gradients Conv2DBackpropInput and Conv2DBackpropFilter, on oneDNN. */
import * as tf from '@tensorflow/tfjs-core';
import { activationOk, biasOk, fallback, hasZero, host, isF32, off, runNative, type Inputs, type KernelArgs } from './context.js';

/**
 * N,H,W,C, KH,KW,O, OH,OW, sh,sw, dh,dw, pt,pl of a convolution, as the addon's convolutions take
 * them (the gradients' infos are computed with dilation 1).
 */
function convDims(ci: tf.backend_util.Conv2DInfo): number[] {
  return [ci.batchSize, ci.inHeight, ci.inWidth, ci.inChannels, ci.filterHeight, ci.filterWidth, ci.outChannels, ci.outHeight, ci.outWidth, ci.strideHeight, ci.strideWidth, ci.dilationHeight, ci.dilationWidth, ci.padInfo.top, ci.padInfo.left];
}

export function conv2dKernel(name: string) {
  return (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { x, filter, bias, preluActivationWeights } = args.inputs as tf.FusedConv2DInputs;
    const attrs = args.attrs as unknown as tf.FusedConv2DAttrs;
    const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs;
    const activation = name === tf.FusedConv2D ? attrs.activation : undefined;
    if (dataFormat === 'NCHW') return fallback(name, args, 'NCHW');
    if (!isF32(x, filter) || x.shape.length !== 4 || filter.shape.length !== 4) return fallback(name, args, 'not float32 NHWC');
    if (preluActivationWeights != null || !activationOk(activation)) return fallback(name, args, `activation ${activation}`);
    if (!biasOk(bias ?? undefined, filter.shape[3]!)) return fallback(name, args, 'bias shape');
    const ci = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filter.shape as [number, number, number, number],
      strides,
      dilations,
      pad,
      dimRoundingMode,
      false,
      'channelsLast',
    );
    if (hasZero(ci.outShape) || hasZero(x.shape)) return fallback(name, args, 'empty tensor');
    const b = host(args);
    const out = b.makeOutput(ci.outShape, 'float32');
    return runNative(name, args, out, (heap, addon) =>
      addon.conv2d(
        heap,
        off(b, x),
        off(b, filter),
        bias != null ? off(b, bias) : -1,
        off(b, out),
        ...convDims(ci),
        activation === 'relu' ? 1 : 0,
      ),
    );
  };
}

export function conv2dBackpropInput(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const name = tf.Conv2DBackpropInput;
  const { dy, filter } = args.inputs as Inputs;
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  if (dataFormat === 'NCHW') return fallback(name, args, 'NCHW');
  if (!isF32(dy, filter) || dy.shape.length !== 4 || filter.shape.length !== 4 || inputShape.length !== 4) {
    return fallback(name, args, 'not float32 NHWC');
  }
  const ci = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  if (!tf.util.arraysEqual(ci.outShape, dy.shape)) return fallback(name, args, 'dy shape does not match the convolution');
  if (hasZero(inputShape) || hasZero(dy.shape)) return fallback(name, args, 'empty tensor');
  const b = host(args);
  const out = b.makeOutput([...inputShape], 'float32');
  return runNative(name, args, out, (heap, addon) =>
    addon.conv2dBackpropInput(
      heap,
      off(b, dy),
      off(b, filter),
      off(b, out),
      ...convDims(ci),
    ),
  );
}

export function conv2dBackpropFilter(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const name = tf.Conv2DBackpropFilter;
  const { x, dy } = args.inputs as Inputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  if (dataFormat === 'NCHW') return fallback(name, args, 'NCHW');
  if (!isF32(x, dy) || x.shape.length !== 4 || dy.shape.length !== 4 || filterShape.length !== 4) {
    return fallback(name, args, 'not float32 NHWC');
  }
  const ci = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  if (!tf.util.arraysEqual(ci.outShape, dy.shape)) return fallback(name, args, 'dy shape does not match the convolution');
  if (hasZero(x.shape) || hasZero(dy.shape)) return fallback(name, args, 'empty tensor');
  const b = host(args);
  const out = b.makeOutput([...filterShape], 'float32');
  return runNative(name, args, out, (heap, addon) =>
    addon.conv2dBackpropFilter(
      heap,
      off(b, x),
      off(b, dy),
      off(b, out),
      -1,
      ...convDims(ci),
    ),
  );
}
