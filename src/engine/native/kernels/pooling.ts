/** MaxPool, MaxPoolGrad, AvgPool and AvgPoolGrad (NHWC, dilation 1) as native loops. */
import * as tf from '@tensorflow/tfjs-core';
import type { PoolGeometry } from '../addon.js';
import { fallback, hasZero, host, isF32, off, runNative, type Inputs, type KernelArgs } from './context.js';

/** The addon's pooling geometry from tfjs's. */
export function poolGeometry(pi: tf.backend_util.Conv2DInfo): PoolGeometry {
  return {
    batch: pi.batchSize,
    inHeight: pi.inHeight,
    inWidth: pi.inWidth,
    channels: pi.inChannels,
    filterHeight: pi.filterHeight,
    filterWidth: pi.filterWidth,
    outHeight: pi.outHeight,
    outWidth: pi.outWidth,
    strideHeight: pi.strideHeight,
    strideWidth: pi.strideWidth,
    padTop: pi.padInfo.top,
    padLeft: pi.padInfo.left,
  };
}

/** MaxPool or AvgPool: the forward pooling of x by the addon's `op`. */
function pool(name: string, op: 'maxPool' | 'avgPool') {
  return (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { x } = args.inputs as Inputs;
    const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as tf.MaxPoolAttrs;
    if (!isF32(x) || x.shape.length !== 4) return fallback(name, args, 'not float32 NHWC');
    const pi = tf.backend_util.computePool2DInfo(x.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
    if (hasZero(pi.outShape) || hasZero(x.shape)) return fallback(name, args, 'empty tensor');
    const b = host(args);
    const out = b.makeOutput(pi.outShape, 'float32');
    return runNative(name, args, out, (heap, addon) => addon[op](heap, off(b, x), off(b, out), poolGeometry(pi)));
  };
}

export const maxPool = pool(tf.MaxPool, 'maxPool');
export const avgPool = pool(tf.AvgPool, 'avgPool');

/**
 * MaxPoolGrad or AvgPoolGrad: dy [N,OH,OW,C] back to the shape of `input`. Like tfjs's own kernels,
 * the average pooling's gradient ignores dimRoundingMode.
 */
function poolGrad(name: string, op: 'maxPoolGrad' | 'avgPoolGrad') {
  return (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { dy, input } = args.inputs as Inputs;
    const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as tf.MaxPoolGradAttrs;
    if (!isF32(dy, input) || input.shape.length !== 4 || dy.shape.length !== 4) return fallback(name, args, 'not float32 NHWC');
    const rounding = op === 'maxPoolGrad' ? dimRoundingMode : undefined;
    const pi = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], filterSize, strides, 1, pad, rounding);
    if (!tf.util.arraysEqual(pi.outShape, dy.shape)) return fallback(name, args, 'dy shape does not match the pooling');
    if (hasZero(input.shape) || hasZero(dy.shape)) return fallback(name, args, 'empty tensor');
    const b = host(args);
    const out = b.makeOutput([...input.shape], 'float32');
    return runNative(name, args, out, (heap, addon) =>
      op === 'maxPoolGrad'
        ? addon.maxPoolGrad(heap, off(b, input), off(b, dy), off(b, out), poolGeometry(pi))
        : addon.avgPoolGrad(heap, off(b, dy), off(b, out), poolGeometry(pi)),
    );
  };
}

export const maxPoolGrad = poolGrad(tf.MaxPoolGrad, 'maxPoolGrad');
export const avgPoolGrad = poolGrad(tf.AvgPoolGrad, 'avgPoolGrad');
