/**
 * Reductions: Sum over every axis but the last (bias gradients) or over trailing axes (a whole
 * tensor, per-example sums), Max over adjacent axes and its gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import { disabled, fallback, hasZero, host, isF32, nativeHost, off, runNative, type Inputs, type KernelArgs } from './context.js';

/**
 * The gradient of Max, `dy * (x == y)`, as one native kernel (tfjs computes it as Equal, Cast and
 * Multiply, after transposing when the reduced axes are not the last): run by the gradient of Max
 * that {@link registerNativeKernels} installs. The global max pooling of text models needs it.
 */
export const MAX_GRAD = 'AdvtrainMaxGrad';

export function sum(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const name = tf.Sum;
  const { x } = args.inputs as Inputs;
  const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
  const rank = x.shape.length;
  if (!isF32(x) || rank === 0 || hasZero(x.shape)) return fallback(name, args, 'not a non-empty float32 tensor');
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
  const b = host(args);
  if (rank >= 2 && axes.length === rank - 1 && axes.every((a, i) => a === i)) {
    const cols = x.shape[rank - 1]!;
    const rows = tf.util.sizeFromShape(x.shape) / cols;
    const out = b.makeOutput(keepDims ? [...x.shape.slice(0, -1).map(() => 1), cols] : [cols], 'float32');
    return runNative(name, args, out, (heap, addon) => addon.sumRows(heap, off(b, x), off(b, out), rows, cols));
  }
  const first = axes[0]!;
  if (axes.length > 0 && axes.every((a, i) => a === first + i) && axes[axes.length - 1] === rank - 1) {
    const outer = tf.util.sizeFromShape(x.shape.slice(0, first));
    const r = tf.util.sizeFromShape(x.shape.slice(first));
    const out = b.makeOutput(keepDims ? x.shape.map((d, i) => (i >= first ? 1 : d)) : x.shape.slice(0, first), 'float32');
    return runNative(name, args, out, (heap, addon) => addon.sumTrailing(heap, off(b, x), off(b, out), outer, r));
  }
  return fallback(name, args, 'not a sum over all axes but the last, nor over trailing axes');
}

/** x's shape as [outer, r, inner] around the run of axes `axes` (sorted), or undefined if they are not adjacent. */
function aroundAxes(shape: number[], axes: number[]): [number, number, number] | undefined {
  if (axes.length === 0 || axes.some((a, i) => a !== axes[0]! + i)) return undefined;
  const size = (s: number[]) => tf.util.sizeFromShape(s);
  const a0 = axes[0]!, a1 = axes[axes.length - 1]! + 1;
  return [size(shape.slice(0, a0)), size(shape.slice(a0, a1)), size(shape.slice(a1))];
}

export function max(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const name = tf.Max;
  const { x } = args.inputs as Inputs;
  const { reductionIndices, keepDims } = args.attrs as unknown as tf.MaxAttrs;
  if (!isF32(x) || x.shape.length === 0 || hasZero(x.shape)) return fallback(name, args, 'not a non-empty float32 tensor');
  const axes = tf.util.parseAxisParam(reductionIndices, x.shape).sort((p, q) => p - q);
  const dims = aroundAxes(x.shape, axes);
  if (!dims) return fallback(name, args, 'axes not adjacent');
  const b = host(args);
  const outShape = keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
  const out = b.makeOutput(outShape, 'float32');
  return runNative(name, args, out, (heap, addon) => addon.reduceMax(heap, off(b, x), off(b, out), ...dims));
}

/**
 * The gradient of Max, `dy * (x == y)`, with y and dy in x's rank (reduced axes of size 1). The
 * reduced axes are those where y's size differs from x's; they must be adjacent.
 */
export function maxGradKernel(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { dy, x, y } = args.inputs as Inputs;
  const ok = isF32(dy, x, y) && !hasZero(x.shape) && y.shape.length === x.shape.length && tf.util.arraysEqual(dy.shape, y.shape);
  const axes = ok ? x.shape.flatMap((d, i) => (y.shape[i] !== d ? [i] : [])) : [];
  if (!ok || axes.some((a) => y.shape[a] !== 1)) return fallback(MAX_GRAD, args, 'not float32 x, y, dy of one rank with y reduced', maxGradFallback);
  const dims = axes.length === 0 ? ([1, 1, tf.util.sizeFromShape(x.shape)] as const) : aroundAxes(x.shape, axes);
  if (!dims) return fallback(MAX_GRAD, args, 'axes not adjacent', maxGradFallback);
  const b = host(args);
  const out = b.makeOutput([...x.shape], 'float32');
  return runNative(MAX_GRAD, args, out, (heap, addon) => addon.maxGrad(heap, off(b, dy), off(b, x), off(b, y), off(b, out), ...dims));
}

/** The Max gradient from wasm kernels, as tfjs computes it (Equal, Cast, Multiply with broadcasting). */
function maxGradFallback(args: KernelArgs): tf.TensorInfo {
  const { dy, x, y } = args.inputs as Inputs;
  const b = host(args);
  const run = (kernel: string, inputs: Inputs, attrs: tf.NamedAttrMap = {}) =>
    tf.getKernel(kernel, 'wasm').kernelFunc({ inputs, backend: args.backend as tf.KernelBackend, attrs }) as tf.TensorInfo;
  const eq = run(tf.Equal, { a: y, b: x });
  const mask = run(tf.Cast, { x: eq }, { dtype: 'float32' });
  const out = run(tf.Multiply, { a: dy, b: mask });
  b.disposeData(eq.dataId);
  b.disposeData(mask.dataId);
  return out;
}

/** tfjs's gradient of Max, kept while ours is installed. */
let tfjsMaxGrad: tf.GradConfig | undefined;

/** Max's gradient as one native kernel where the native engine runs, tfjs's own elsewhere. */
const nativeMaxGrad: tf.GradConfig = {
  kernelName: tf.Max,
  inputsToSave: ['x'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, y] = saved as tf.Tensor[];
    const g = dy as tf.Tensor;
    if (disabled.has(MAX_GRAD) || nativeHost() === undefined || !isF32(x, y, g)) return tfjsMaxGrad!.gradFunc(dy, saved, attrs);
    const axes = tf.util.parseAxisParam((attrs as unknown as tf.MaxAttrs).reductionIndices, x!.shape);
    const kept = x!.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    return { x: () => tf.engine().runKernel(MAX_GRAD, { dy: tf.reshape(g, kept), x: x!, y: tf.reshape(y!, kept) }) as tf.Tensor };
  },
};

/** Installs the kernel MAX_GRAD and Max's gradient that runs it (tfjs's is kept for other engines). */
export function installMaxGradient(): void {
  // No gradient of MAX_GRAD: tfjs has none for Max's gradient either (Equal has no gradient).
  if (tf.getKernel(MAX_GRAD, 'wasm') === undefined) tf.registerKernel({ kernelName: MAX_GRAD, backendName: 'wasm', kernelFunc: maxGradKernel as tf.KernelFunc });
  tfjsMaxGrad = tf.getGradient(tf.Max);
  if (tfjsMaxGrad) tf.registerGradient(nativeMaxGrad);
}

/** Puts tfjs's gradient of Max back. */
export function restoreMaxGradient(): void {
  if (tfjsMaxGrad) tf.registerGradient(tfjsMaxGrad);
  tfjsMaxGrad = undefined;
}
