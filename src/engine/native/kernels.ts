/**
 * The native engine's kernels (Conv2D, FusedConv2D, Conv2DBackpropInput/Filter, BatchMatMul,
 * _FusedMatMul, MaxPool, MaxPoolGrad, AvgPool, AvgPoolGrad, and Sum over all axes but the last,
 * i.e. bias gradients; and the element-wise work of a training step: Relu, its gradient, bias Add,
 * and Identity/Cast, which share the input's buffer instead of copying it; and embeddings: GatherV2
 * (any axis) and UnsortedSegmentSum, its gradient), registered on the
 * tfjs **wasm** backend in place of its own.
 *
 * Each kernel reads its inputs from and writes its output to the wasm heap in place (oneDNN gets
 * pointers into the wasm memory; nothing is copied), so the rest of the graph (element-wise ops,
 * reductions, the optimizer) keeps running on wasm. Every case a kernel does not handle (NCHW,
 * non-float32, prelu/elu activations, broadcast shapes oneDNN does not take) runs the kernel that
 * was registered before, so registering never changes what a model computes, only how fast.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { availableParallelism } from 'node:os';
import { loadNativeAddon, type NativeAddon } from './addon.js';

/** The parts of tfjs-backend-wasm 4.22's `BackendWasm` the kernels rely on. */
export interface WasmHost {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
  /** How many tensors share the buffer of `dataId`. */
  refCount(dataId: object): number;
}

/** Kernel inputs by name (optional ones may be undefined or null). */
type Inputs = Record<string, tf.TensorInfo>;

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

/** Kernels the native engine implements. */
export const NATIVE_KERNELS = [
  tf.Conv2D,
  tf.FusedConv2D,
  tf.Conv2DBackpropInput,
  tf.Conv2DBackpropFilter,
  tf.BatchMatMul,
  tf._FusedMatMul,
  tf.MaxPool,
  tf.MaxPoolGrad,
  tf.AvgPool,
  tf.AvgPoolGrad,
  tf.Sum,
  tf.Max,
  tf.Relu,
  tf.Add,
  tf.Identity,
  tf.Cast,
  tf.Transpose,
  tf.GatherV2,
  tf.UnsortedSegmentSum,
] as const;

/**
 * The fused ReLU gradient `dy * step(x)`: a kernel of the native engine's own (tfjs computes it as
 * Step, Cast and Multiply), run by the gradient of Relu that {@link registerNativeKernels} installs.
 */
export const RELU_GRAD = 'AdvtrainReluGrad';

/**
 * The gradient of Max, `dy * (x == y)`, as one native kernel (tfjs computes it as Equal, Cast and
 * Multiply, after transposing when the reduced axes are not the last): run by the gradient of Max
 * that {@link registerNativeKernels} installs. The global max pooling of text models needs it.
 */
export const MAX_GRAD = 'AdvtrainMaxGrad';

/** How often each kernel ran natively and how often (and last why) it fell back. */
export interface NativeKernelStats {
  native: number;
  fallback: number;
  lastFallback?: string;
}

let addon: NativeAddon | undefined;
const previous = new Map<string, tf.KernelConfig | undefined>();
/** Kernels switched back to their previous implementation (for A/B measurements). */
const disabled = new Set<string>();
const stats = new Map<string, NativeKernelStats>();

function stat(name: string): NativeKernelStats {
  let s = stats.get(name);
  if (!s) stats.set(name, (s = { native: 0, fallback: 0 }));
  return s;
}

/** Runs the kernel that was registered before ours, noting why. */
function fallback(name: string, args: KernelArgs, why: string): tf.TensorInfo | tf.TensorInfo[] {
  const s = stat(name);
  s.fallback++;
  s.lastFallback = why;
  const own = name === RELU_GRAD ? reluGradFallback : name === MAX_GRAD ? maxGradFallback : undefined;
  const prev = own ? { kernelFunc: own as tf.KernelFunc } : previous.get(name);
  if (!prev) throw new Error(`advtrain native: ${name} (${why}) and no wasm kernel to fall back to`);
  return prev.kernelFunc(args as Parameters<tf.KernelFunc>[0]);
}

function host(args: KernelArgs): WasmHost {
  return args.backend as WasmHost;
}

function off(b: WasmHost, t: tf.TensorInfo): number {
  const d = b.dataIdMap.get(t.dataId);
  if (!d) throw new Error('advtrain native: tensor is not on the wasm backend');
  return d.memoryOffset;
}

/** Calls the addon; on an error frees the output and falls back. */
function runNative(
  name: string,
  args: KernelArgs,
  out: tf.TensorInfo,
  call: (heap: Uint8Array) => void,
): tf.TensorInfo | tf.TensorInfo[] {
  const b = host(args);
  try {
    // Re-read the heap right before the call: allocating the output may have grown the memory.
    call(b.wasm.HEAPU8);
  } catch (e) {
    b.disposeData(out.dataId, true);
    return fallback(name, args, (e as Error).message);
  }
  stat(name).native++;
  return out;
}

const isF32 = (...ts: (tf.TensorInfo | undefined)[]) => ts.every((t) => t === undefined || t.dtype === 'float32');
const hasZero = (shape: number[]) => shape.some((d) => d === 0);

/** A bias the addon takes: float32, one value per output channel (shape [..., 1, n]). */
function biasOk(bias: tf.TensorInfo | undefined, n: number): boolean {
  if (bias === undefined || bias === null) return true;
  if (bias.dtype !== 'float32' || bias.shape.length === 0) return false;
  return bias.shape[bias.shape.length - 1] === n && tf.util.sizeFromShape(bias.shape) === n;
}

function activationOk(activation: unknown): activation is 'linear' | 'relu' | undefined | null {
  return activation === undefined || activation === null || activation === 'linear' || activation === 'relu';
}

// ---- Conv2D and FusedConv2D ----------------------------------------------------------------------

function conv2dKernel(name: string) {
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
    return runNative(name, args, out, (heap) =>
      addon!.conv2d(
        heap,
        off(b, x),
        off(b, filter),
        bias != null ? off(b, bias) : -1,
        off(b, out),
        ci.batchSize,
        ci.inHeight,
        ci.inWidth,
        ci.inChannels,
        ci.filterHeight,
        ci.filterWidth,
        ci.outChannels,
        ci.outHeight,
        ci.outWidth,
        ci.strideHeight,
        ci.strideWidth,
        ci.dilationHeight,
        ci.dilationWidth,
        ci.padInfo.top,
        ci.padInfo.left,
        activation === 'relu' ? 1 : 0,
      ),
    );
  };
}

function conv2dBackpropInput(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
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
  return runNative(name, args, out, (heap) =>
    addon!.conv2dBackpropInput(
      heap,
      off(b, dy),
      off(b, filter),
      off(b, out),
      ci.batchSize,
      ci.inHeight,
      ci.inWidth,
      ci.inChannels,
      ci.filterHeight,
      ci.filterWidth,
      ci.outChannels,
      ci.outHeight,
      ci.outWidth,
      ci.strideHeight,
      ci.strideWidth,
      1,
      1,
      ci.padInfo.top,
      ci.padInfo.left,
    ),
  );
}

function conv2dBackpropFilter(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
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
  return runNative(name, args, out, (heap) =>
    addon!.conv2dBackpropFilter(
      heap,
      off(b, x),
      off(b, dy),
      off(b, out),
      -1,
      ci.batchSize,
      ci.inHeight,
      ci.inWidth,
      ci.inChannels,
      ci.filterHeight,
      ci.filterWidth,
      ci.outChannels,
      ci.outHeight,
      ci.outWidth,
      ci.strideHeight,
      ci.strideWidth,
      1,
      1,
      ci.padInfo.top,
      ci.padInfo.left,
    ),
  );
}

// ---- BatchMatMul and _FusedMatMul ----------------------------------------------------------------

function matMulKernel(name: string) {
  return (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { a, b: bm, bias, preluActivationWeights } = args.inputs as tf._FusedMatMulInputs;
    const attrs = args.attrs as unknown as tf._FusedMatMulAttrs;
    const { transposeA, transposeB } = attrs;
    const activation = name === tf._FusedMatMul ? attrs.activation : undefined;
    if (!isF32(a, bm) || a.shape.length < 2 || bm.shape.length < 2) return fallback(name, args, 'not float32 rank>=2');
    if (preluActivationWeights != null || !activationOk(activation)) return fallback(name, args, `activation ${activation}`);
    const ra = a.shape.length;
    const rb = bm.shape.length;
    const M = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
    const K = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
    const Kb = transposeB ? bm.shape[rb - 1]! : bm.shape[rb - 2]!;
    const N = transposeB ? bm.shape[rb - 2]! : bm.shape[rb - 1]!;
    if (K !== Kb) return fallback(name, args, 'inner dimensions differ');
    if (!biasOk(bias ?? undefined, N)) return fallback(name, args, 'bias shape');
    const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), bm.shape.slice(0, -2));
    const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
    const batchB = tf.util.sizeFromShape(bm.shape.slice(0, -2));
    const batch = tf.util.sizeFromShape(outer);
    if (batch !== Math.max(batchA, batchB) || (batchA !== batchB && batchA !== 1 && batchB !== 1)) {
      return fallback(name, args, 'batch broadcast');
    }
    if (M === 0 || N === 0 || K === 0 || batch === 0) return fallback(name, args, 'empty tensor');
    const b = host(args);
    const out = b.makeOutput([...outer, M, N], 'float32');
    return runNative(name, args, out, (heap) =>
      addon!.matMul(
        heap,
        off(b, a),
        off(b, bm),
        bias != null ? off(b, bias) : -1,
        off(b, out),
        batchA,
        batchB,
        M,
        K,
        N,
        transposeA ? 1 : 0,
        transposeB ? 1 : 0,
        activation === 'relu' ? 1 : 0,
      ),
    );
  };
}

// ---- MaxPool and MaxPoolGrad ----------------------------------------------------------------------

function maxPool(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const name = tf.MaxPool;
  const { x } = args.inputs as Inputs;
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as tf.MaxPoolAttrs;
  if (!isF32(x) || x.shape.length !== 4) return fallback(name, args, 'not float32 NHWC');
  const pi = tf.backend_util.computePool2DInfo(x.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  if (hasZero(pi.outShape) || hasZero(x.shape)) return fallback(name, args, 'empty tensor');
  const b = host(args);
  const out = b.makeOutput(pi.outShape, 'float32');
  return runNative(name, args, out, (heap) =>
    addon!.maxPool(
      heap,
      off(b, x),
      off(b, out),
      pi.batchSize,
      pi.inHeight,
      pi.inWidth,
      pi.inChannels,
      pi.filterHeight,
      pi.filterWidth,
      pi.outHeight,
      pi.outWidth,
      pi.strideHeight,
      pi.strideWidth,
      pi.padInfo.top,
      pi.padInfo.left,
    ),
  );
}

function maxPoolGrad(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const name = tf.MaxPoolGrad;
  const { dy, input } = args.inputs as Inputs;
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as tf.MaxPoolGradAttrs;
  if (!isF32(dy, input) || input.shape.length !== 4 || dy.shape.length !== 4) return fallback(name, args, 'not float32 NHWC');
  const pi = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  if (!tf.util.arraysEqual(pi.outShape, dy.shape)) return fallback(name, args, 'dy shape does not match the pooling');
  if (hasZero(input.shape) || hasZero(dy.shape)) return fallback(name, args, 'empty tensor');
  const b = host(args);
  const out = b.makeOutput([...input.shape], 'float32');
  return runNative(name, args, out, (heap) =>
    addon!.maxPoolGrad(
      heap,
      off(b, input),
      off(b, dy),
      off(b, out),
      pi.batchSize,
      pi.inHeight,
      pi.inWidth,
      pi.inChannels,
      pi.filterHeight,
      pi.filterWidth,
      pi.outHeight,
      pi.outWidth,
      pi.strideHeight,
      pi.strideWidth,
      pi.padInfo.top,
      pi.padInfo.left,
    ),
  );
}

// ---- AvgPool and AvgPoolGrad ----------------------------------------------------------------------

function avgPool(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const name = tf.AvgPool;
  const { x } = args.inputs as Inputs;
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as tf.AvgPoolAttrs;
  if (!isF32(x) || x.shape.length !== 4) return fallback(name, args, 'not float32 NHWC');
  const pi = tf.backend_util.computePool2DInfo(x.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  if (hasZero(pi.outShape) || hasZero(x.shape)) return fallback(name, args, 'empty tensor');
  const b = host(args);
  const out = b.makeOutput(pi.outShape, 'float32');
  return runNative(name, args, out, (heap) =>
    addon!.avgPool(heap, off(b, x), off(b, out), ...poolDims(pi)),
  );
}

function avgPoolGrad(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const name = tf.AvgPoolGrad;
  const { dy, input } = args.inputs as Inputs;
  const { filterSize, strides, pad } = args.attrs as unknown as tf.AvgPoolGradAttrs;
  if (!isF32(dy, input) || input.shape.length !== 4 || dy.shape.length !== 4) return fallback(name, args, 'not float32 NHWC');
  // Like tfjs's own kernels, the gradient ignores dimRoundingMode.
  const pi = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], filterSize, strides, 1, pad);
  if (!tf.util.arraysEqual(pi.outShape, dy.shape)) return fallback(name, args, 'dy shape does not match the pooling');
  if (hasZero(input.shape) || hasZero(dy.shape)) return fallback(name, args, 'empty tensor');
  const b = host(args);
  const out = b.makeOutput([...input.shape], 'float32');
  return runNative(name, args, out, (heap) => addon!.avgPoolGrad(heap, off(b, dy), off(b, out), ...poolDims(pi)));
}

/** N,H,W,C, KH,KW, OH,OW, sh,sw, pt,pl of a pooling (dilation 1). */
function poolDims(pi: tf.backend_util.Conv2DInfo): number[] {
  return [pi.batchSize, pi.inHeight, pi.inWidth, pi.inChannels, pi.filterHeight, pi.filterWidth, pi.outHeight, pi.outWidth, pi.strideHeight, pi.strideWidth, pi.padInfo.top, pi.padInfo.left];
}

// ---- Sum over every axis but the last (bias gradients) ------------------------------------------

function sum(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const name = tf.Sum;
  const { x } = args.inputs as Inputs;
  const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
  const rank = x.shape.length;
  if (!isF32(x) || rank < 2) return fallback(name, args, 'not float32 rank>=2');
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
  if (axes.length !== rank - 1 || axes.some((a, i) => a !== i)) return fallback(name, args, 'not a sum over all axes but the last');
  const cols = x.shape[rank - 1]!;
  const rows = tf.util.sizeFromShape(x.shape) / (cols || 1);
  if (rows === 0 || cols === 0) return fallback(name, args, 'empty tensor');
  const b = host(args);
  const out = b.makeOutput(keepDims ? [...x.shape.slice(0, -1).map(() => 1), cols] : [cols], 'float32');
  return runNative(name, args, out, (heap) => addon!.sumRows(heap, off(b, x), off(b, out), rows, cols));
}

// ---- Max over adjacent axes and its gradient ---------------------------------------------------

/** x's shape as [outer, r, inner] around the run of axes `axes` (sorted), or undefined if they are not adjacent. */
function aroundAxes(shape: number[], axes: number[]): [number, number, number] | undefined {
  if (axes.length === 0 || axes.some((a, i) => a !== axes[0]! + i)) return undefined;
  const size = (s: number[]) => tf.util.sizeFromShape(s);
  const a0 = axes[0]!, a1 = axes[axes.length - 1]! + 1;
  return [size(shape.slice(0, a0)), size(shape.slice(a0, a1)), size(shape.slice(a1))];
}

function max(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
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
  return runNative(name, args, out, (heap) => addon!.reduceMax(heap, off(b, x), off(b, out), ...dims));
}

/**
 * The gradient of Max, `dy * (x == y)`, with y and dy in x's rank (reduced axes of size 1). The
 * reduced axes are those where y's size differs from x's; they must be adjacent.
 */
function maxGradKernel(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { dy, x, y } = args.inputs as Inputs;
  const ok = isF32(dy, x, y) && !hasZero(x.shape) && y.shape.length === x.shape.length && tf.util.arraysEqual(dy.shape, y.shape);
  const axes = ok ? x.shape.flatMap((d, i) => (y.shape[i] !== d ? [i] : [])) : [];
  if (!ok || axes.some((a) => y.shape[a] !== 1)) return fallback(MAX_GRAD, args, 'not float32 x, y, dy of one rank with y reduced');
  const dims = axes.length === 0 ? ([1, 1, tf.util.sizeFromShape(x.shape)] as const) : aroundAxes(x.shape, axes);
  if (!dims) return fallback(MAX_GRAD, args, 'axes not adjacent');
  const b = host(args);
  const out = b.makeOutput([...x.shape], 'float32');
  return runNative(MAX_GRAD, args, out, (heap) => addon!.maxGrad(heap, off(b, dy), off(b, x), off(b, y), off(b, out), ...dims));
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

// ---- Element-wise: Relu, its gradient, bias Add; Identity and Cast without copies -------------------

function relu(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const name = tf.Relu;
  const { x } = args.inputs as Inputs;
  if (!isF32(x) || x.shape.length === 0 || hasZero(x.shape)) return fallback(name, args, 'not a non-empty float32 tensor');
  const b = host(args);
  const out = b.makeOutput([...x.shape], 'float32');
  return runNative(name, args, out, (heap) => addon!.relu(heap, off(b, x), off(b, out), tf.util.sizeFromShape(x.shape)));
}

function reluGradKernel(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { dy, x } = args.inputs as Inputs;
  if (!isF32(dy, x) || !tf.util.arraysEqual(dy.shape, x.shape) || hasZero(x.shape)) return fallback(RELU_GRAD, args, 'not equal non-empty float32 shapes');
  const b = host(args);
  const out = b.makeOutput([...x.shape], 'float32');
  return runNative(RELU_GRAD, args, out, (heap) => addon!.reluGrad(heap, off(b, dy), off(b, x), off(b, out), tf.util.sizeFromShape(x.shape)));
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

function add(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
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
  return runNative(name, args, out, (heap) => addon!.addBias(heap, off(b, x), off(b, bias), off(b, out), rows, cols));
}

/** Identity, and Cast to the same dtype: the output shares the input's buffer (tensors are immutable). */
function share(name: string) {
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
function transpose(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const name = tf.Transpose;
  const { x } = args.inputs as Inputs;
  const { perm } = args.attrs as unknown as tf.TransposeAttrs;
  const moved = perm.filter((p) => x.shape[p] !== 1);
  if (x.dtype === 'string' || x.dtype === 'complex64' || moved.some((p, i) => i > 0 && p < moved[i - 1]!)) return fallback(name, args, 'moves data');
  host(args).incRef(x.dataId);
  stat(name).native++;
  return { dataId: x.dataId, shape: perm.map((p) => x.shape[p]!), dtype: x.dtype };
}

// ---- Embeddings: GatherV2 on axis 0 and UnsortedSegmentSum (its gradient) ------------------------

/**
 * GatherV2 on any axis and batchDims (x as [batch, outer, dim, slice], indices as [batch, m]): the
 * embedding look-up, and the per-row gather of the l1 projection, for which tfjs-backend-wasm
 * 4.22's own kernel reads out of bounds.
 */
function gatherV2(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const name = tf.GatherV2;
  const { x, indices } = args.inputs as Inputs;
  const { axis, batchDims } = args.attrs as unknown as tf.GatherV2Attrs;
  if ((x.dtype !== 'float32' && x.dtype !== 'int32') || indices.dtype !== 'int32' || x.shape.length === 0) return fallback(name, args, 'not a float32/int32 tensor with int32 indices');
  const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(x as tf.Tensor, indices as tf.Tensor, tf.util.parseAxisParam(axis, x.shape)[0]!, batchDims ?? 0);
  const { batchSize, outerSize, dimSize, sliceSize } = info;
  const n = tf.util.sizeFromShape(indices.shape);
  if (n === 0 || tf.util.sizeFromShape(x.shape) === 0) return fallback(name, args, 'empty tensor');
  const b = host(args);
  const out = b.makeOutput(info.outputShape, x.dtype);
  let bad = -1;
  const r = runNative(name, args, out, (heap) => {
    bad = addon!.gather(heap, off(b, x), off(b, indices), off(b, out), batchSize, outerSize, dimSize, sliceSize, n / batchSize);
  });
  if (r === out && bad >= 0) {
    // The same error as the wasm kernel; the output is freed, nothing else was allocated.
    const heap = b.wasm.HEAPU8;
    const v = new Int32Array(heap.buffer, heap.byteOffset + off(b, indices), n)[bad]!;
    b.disposeData(out.dataId, true);
    throw new Error(`GatherV2: the index value ${v} is not in [0, ${dimSize - 1}]`);
  }
  return r;
}

function unsortedSegmentSum(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const name = tf.UnsortedSegmentSum;
  const { x, segmentIds } = args.inputs as Inputs;
  const { numSegments } = args.attrs as unknown as tf.UnsortedSegmentSumAttrs;
  if ((x.dtype !== 'float32' && x.dtype !== 'int32') || segmentIds.dtype !== 'int32') return fallback(name, args, 'not float32/int32 x with int32 ids');
  const k = segmentIds.shape.length;
  if (k === 0 || k > x.shape.length || !tf.util.arraysEqual(x.shape.slice(0, k), segmentIds.shape)) return fallback(name, args, 'ids do not cover the leading axes of x');
  const n = tf.util.sizeFromShape(segmentIds.shape);
  const inner = tf.util.sizeFromShape(x.shape.slice(k));
  if (n === 0 || inner === 0 || !(numSegments > 0)) return fallback(name, args, 'empty tensor');
  const b = host(args);
  const out = b.makeOutput([numSegments, ...x.shape.slice(k)], x.dtype);
  return runNative(name, args, out, (heap) =>
    addon!.unsortedSegmentSum(heap, off(b, x), off(b, segmentIds), off(b, out), n, inner, numSegments, x.dtype === 'int32' ? 1 : 0),
  );
}

const KERNEL_FUNCS: Record<(typeof NATIVE_KERNELS)[number], (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[]> = {
  [tf.Conv2D]: conv2dKernel(tf.Conv2D),
  [tf.FusedConv2D]: conv2dKernel(tf.FusedConv2D),
  [tf.Conv2DBackpropInput]: conv2dBackpropInput,
  [tf.Conv2DBackpropFilter]: conv2dBackpropFilter,
  [tf.BatchMatMul]: matMulKernel(tf.BatchMatMul),
  [tf._FusedMatMul]: matMulKernel(tf._FusedMatMul),
  [tf.MaxPool]: maxPool,
  [tf.MaxPoolGrad]: maxPoolGrad,
  [tf.AvgPool]: avgPool,
  [tf.AvgPoolGrad]: avgPoolGrad,
  [tf.Sum]: sum,
  [tf.Max]: max,
  [tf.Relu]: relu,
  [tf.Add]: add,
  [tf.Identity]: share(tf.Identity),
  [tf.Cast]: share(tf.Cast),
  [tf.Transpose]: transpose,
  [tf.GatherV2]: gatherV2,
  [tf.UnsortedSegmentSum]: unsortedSegmentSum,
};

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

export type RegisterResult =
  | { ok: true; kernels: string[]; threads: number; onednn: string; isa: string }
  | { ok: false; reason: string };

/**
 * The wasm backend and the addon when the native engine is active now (the current backend is
 * wasm and the native kernels are registered), else undefined.
 */
export function nativeHost(): { backend: WasmHost; addon: NativeAddon } | undefined {
  if (!addon || previous.size === 0 || tf.getBackend() !== 'wasm') return undefined;
  return { backend: tf.backend() as unknown as WasmHost, addon };
}

/** Whether the native kernels are registered on wasm now. */
export function nativeKernelsRegistered(): boolean {
  return previous.size > 0;
}

/**
 * Registers the native kernels on the 'wasm' backend in place of the ones registered now (which
 * are kept: for fallbacks and for {@link unregisterNativeKernels}). Calling it again only changes
 * the thread count. Never throws: when the addon is missing it says why and registers nothing.
 *
 * Call it after any other kernel pack for wasm (e.g. `registerWasmTrainingKernels()`), so that
 * fallbacks reach that pack's kernels; before or after `tf.setBackend('wasm')` both work.
 *
 * @param threads oneDNN/OpenMP threads (default: the machine's cores). The wasm backend itself
 *   should then run single-threaded: its threads and these compete for the same cores.
 *
 * @example
 * ```ts
 * const r = registerNativeKernels();
 * console.log(r.ok ? `native engine: oneDNN ${r.onednn}, ${r.threads} threads` : r.reason);
 * ```
 */
export function registerNativeKernels(threads?: number): RegisterResult {
  const loaded = loadNativeAddon();
  if (!loaded.ok) return { ok: false, reason: loaded.reason };
  addon = loaded.addon;
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) {
    return { ok: false, reason: `threads must be a positive integer (got ${threads})` };
  }
  addon.setThreads(threads ?? availableParallelism());
  if (previous.size === 0) {
    for (const name of NATIVE_KERNELS) {
      const prev = tf.getKernel(name, 'wasm');
      previous.set(name, prev);
      if (prev !== undefined) tf.unregisterKernel(name, 'wasm');
      const ours = KERNEL_FUNCS[name];
      const kernelFunc = (args: KernelArgs) => (disabled.has(name) && prev ? prev.kernelFunc(args as Parameters<tf.KernelFunc>[0]) : ours(args));
      // Keep the previous kernel's setup (tfjs-backend-wasm binds its C++ functions there), so
      // fallbacks work even when the wasm backend is initialised after this registration.
      tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: kernelFunc as tf.KernelFunc, setupFunc: prev?.setupFunc });
    }
    if (tf.getKernel(RELU_GRAD, 'wasm') === undefined) {
      tf.registerKernel({ kernelName: RELU_GRAD, backendName: 'wasm', kernelFunc: reluGradKernel as tf.KernelFunc });
      tf.registerGradient(reluGradGrad);
    }
    tfjsReluGrad = tf.getGradient(tf.Relu);
    if (tfjsReluGrad) tf.registerGradient(nativeReluGrad);
    // No gradient of MAX_GRAD: tfjs has none for Max's gradient either (Equal has no gradient).
    if (tf.getKernel(MAX_GRAD, 'wasm') === undefined) tf.registerKernel({ kernelName: MAX_GRAD, backendName: 'wasm', kernelFunc: maxGradKernel as tf.KernelFunc });
    tfjsMaxGrad = tf.getGradient(tf.Max);
    if (tfjsMaxGrad) tf.registerGradient(nativeMaxGrad);
  }
  const info = addon.info();
  return { ok: true, kernels: [...NATIVE_KERNELS], threads: addon.getThreads(), onednn: info.onednn, isa: info.isa };
}

/** Puts back the kernels that were registered before {@link registerNativeKernels}. */
export function unregisterNativeKernels(): void {
  for (const [name, prev] of previous) {
    if (tf.getKernel(name, 'wasm') !== undefined) tf.unregisterKernel(name, 'wasm');
    if (prev !== undefined) tf.registerKernel(prev);
  }
  if (previous.size > 0 && tfjsReluGrad) tf.registerGradient(tfjsReluGrad);
  if (previous.size > 0 && tfjsMaxGrad) tf.registerGradient(tfjsMaxGrad);
  tfjsReluGrad = undefined;
  tfjsMaxGrad = undefined;
  previous.clear();
}

/**
 * Switches one native kernel off (its previous wasm kernel runs instead) or back on, to measure
 * what it brings. Names: those of {@link NATIVE_KERNELS}, and {@link RELU_GRAD} for the fused
 * ReLU gradient (off: tfjs's Step, Cast, Multiply), and {@link MAX_GRAD} for the one-pass gradient of Max
 * (off: tfjs's Equal, Cast, Multiply).
 *
 * @example
 * ```ts
 * setNativeKernelEnabled(tf.Identity, false); // copies again, as plain wasm does
 * ```
 */
export function setNativeKernelEnabled(name: string, on: boolean): void {
  if (on) disabled.delete(name);
  else disabled.add(name);
}

/** Per-kernel counts of native runs and fallbacks since the last reset. */
export function nativeKernelStats(reset = false): Record<string, NativeKernelStats> {
  const o = Object.fromEntries([...stats].map(([k, v]) => [k, { ...v }]));
  if (reset) stats.clear();
  return o;
}
