/** Element-wise kernels of a training step: Relu, its gradient, bias Add; Identity, Cast and Transpose without copies. */
import * as tf from '@tensorflow/tfjs-core';
import { disabled, fallback, hasZero, host, isF32, nativeHost, off, runNative, stat, type Inputs, type KernelArgs } from './context.js';

/**
 * The fused ReLU gradient `dy * step(x)`: a kernel of the native engine's own (tfjs computes it as
 * Step, Cast and Multiply), run by the gradient of Relu that {@link registerNativeKernels} installs.
 */
export const RELU_GRAD = 'AdvtrainReluGrad';

export function relu(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const name = tf.Relu;
  const { x } = args.inputs as Inputs;
  if (!isF32(x) || x.shape.length === 0 || hasZero(x.shape)) return fallback(name, args, 'not a non-empty float32 tensor');
  const b = host(args);
  const out = b.makeOutput([...x.shape], 'float32');
  return runNative(name, args, out, (heap, addon) => addon.relu(heap, off(b, x), off(b, out), tf.util.sizeFromShape(x.shape)));
}

export function reluGradKernel(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { dy, x } = args.inputs as Inputs;
  if (!isF32(dy, x) || !tf.util.arraysEqual(dy.shape, x.shape) || hasZero(x.shape)) return fallback(RELU_GRAD, args, 'not equal non-empty float32 shapes', reluGradFallback);
  const b = host(args);
  const out = b.makeOutput([...x.shape], 'float32');
  return runNative(RELU_GRAD, args, out, (heap, addon) => addon.reluGrad(heap, off(b, dy), off(b, x), off(b, out), tf.util.sizeFromShape(x.shape)));
}

/** The ReLU gradient from the wasm kernels tfjs's gradient uses (Step, Cast, Multiply). */
function reluGradFallback(args: KernelArgs): tf.TensorInfo {
  const { dy, x } = args.inputs as Inputs;
  const b = host(args);
  const run = (kernel: string, inputs: Inputs, attrs: tf.NamedAttrMap = {}) =>
    tf.getKernel(kernel, 'wasm').kernelFunc({ inputs, backend: args.backend as tf.KernelBackend, attrs }) as tf.TensorInfo;
  const st = run(tf.Step, { x }, { alpha: 0 });
  const stf = st.dtype === 'float32' ? st : run(tf.Cast, { x: st }, { dtype: 'float32' });
  const out = run(tf.Multiply, { a: dy, b: stf });
  b.disposeData(st.dataId);
  if (stf !== st) b.disposeData(stf.dataId);
  return out;
}

/** Is `t` a bias for `x`: as many values as x's last axis, on that axis only. */
function isBiasOf(t: tf.TensorInfo, x: tf.TensorInfo): boolean {
  const c = x.shape[x.shape.length - 1];
  return x.shape.length >= 1 && t.shape.length >= 1 && t.shape.length <= x.shape.length && t.shape[t.shape.length - 1] === c && tf.util.sizeFromShape(t.shape) === c;
}

export function add(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const name = tf.Add;
  const { a, b: bb } = args.inputs as Inputs;
  if (!isF32(a, bb)) return fallback(name, args, 'not float32');
  if (hasZero(a.shape) || hasZero(bb.shape)) return fallback(name, args, 'empty tensor');
  let x: tf.TensorInfo, bias: tf.TensorInfo, rows: number, cols: number;
  if (tf.util.arraysEqual(a.shape, bb.shape)) {
    [x, bias, rows, cols] = [a, bb, 1, tf.util.sizeFromShape(a.shape)];
  } else if (isBiasOf(bb, a)) {
    [x, bias, cols] = [a, bb, a.shape[a.shape.length - 1]!];
    rows = tf.util.sizeFromShape(a.shape) / cols;
  } else if (isBiasOf(a, bb)) {
    [x, bias, cols] = [bb, a, bb.shape[bb.shape.length - 1]!]; // x + b = b + x exactly
    rows = tf.util.sizeFromShape(bb.shape) / cols;
  } else {
    return fallback(name, args, 'broadcast other than a bias');
  }
  const b = host(args);
  const out = b.makeOutput([...x.shape], 'float32');
  return runNative(name, args, out, (heap, addon) => addon.addBias(heap, off(b, x), off(b, bias), off(b, out), rows, cols));
}

/** Identity, and Cast to the same dtype: the output shares the input's buffer (tensors are immutable). */
export function share(name: string) {
  return (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { x } = args.inputs as Inputs;
    const dtype = name === tf.Cast ? (args.attrs as unknown as tf.CastAttrs).dtype : x.dtype;
    if (x.dtype === 'string' || dtype !== x.dtype || x.dtype === 'complex64') return fallback(name, args, `${x.dtype} -> ${dtype}`);
    host(args).incRef(x.dataId);
    stat(name).native++;
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}

/**
 * Transpose that leaves the data in place (the axes of size > 1 keep their order: the identity
 * permutation tfjs's gather gradient applies, or moves of size-1 axes) shares the buffer; any
 * other permutation runs the wasm kernel.
 */
export function transpose(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const name = tf.Transpose;
  const { x } = args.inputs as Inputs;
  const { perm } = args.attrs as unknown as tf.TransposeAttrs;
  const moved = perm.filter((p) => x.shape[p] !== 1);
  if (x.dtype === 'string' || x.dtype === 'complex64' || moved.some((p, i) => i > 0 && p < moved[i - 1]!)) return fallback(name, args, 'moves data');
  host(args).incRef(x.dataId);
  stat(name).native++;
  return { dataId: x.dataId, shape: perm.map((p) => x.shape[p]!), dtype: x.dtype };
}

/** tfjs's gradient of Relu, kept while ours is installed. */
let tfjsReluGrad: tf.GradConfig | undefined;

/** Relu's gradient as one native kernel where the native engine runs, tfjs's own elsewhere. */
const nativeReluGrad: tf.GradConfig = {
  kernelName: tf.Relu,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved as tf.Tensor[];
    const g = dy as tf.Tensor;
    if (disabled.has(RELU_GRAD) || nativeHost() === undefined || x!.dtype !== 'float32' || g.dtype !== 'float32') return tfjsReluGrad!.gradFunc(dy, saved, attrs);
    return { x: () => tf.engine().runKernel(RELU_GRAD, { dy: g, x: x! }) as tf.Tensor };
  },
};

/** The fused gradient's own gradient (for gradients of gradients): d/d(dy) is the same mask, d/dx is 0. */
const reluGradGrad: tf.GradConfig = {
  kernelName: RELU_GRAD,
  inputsToSave: ['x'],
  gradFunc: (ddx, saved) => {
    const [x] = saved as tf.Tensor[];
    return { dy: () => tf.engine().runKernel(RELU_GRAD, { dy: ddx as tf.Tensor, x: x! }) as tf.Tensor, x: () => tf.zerosLike(x!) };
  },
};

/** Installs the kernel RELU_GRAD and Relu's gradient that runs it (tfjs's is kept for other engines). */
export function installReluGradient(): void {
  if (tf.getKernel(RELU_GRAD, 'wasm') === undefined) {
    tf.registerKernel({ kernelName: RELU_GRAD, backendName: 'wasm', kernelFunc: reluGradKernel as tf.KernelFunc });
    tf.registerGradient(reluGradGrad);
  }
  tfjsReluGrad = tf.getGradient(tf.Relu);
  if (tfjsReluGrad) tf.registerGradient(nativeReluGrad);
}

/** Puts tfjs's gradient of Relu back. */
export function restoreReluGradient(): void {
  if (tfjsReluGrad) tf.registerGradient(tfjsReluGrad);
  tfjsReluGrad = undefined;
}
