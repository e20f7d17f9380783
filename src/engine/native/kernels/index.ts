/**
 * The native engine's kernels (Conv2D, FusedConv2D, Conv2DBackpropInput/Filter, BatchMatMul,
 * _FusedMatMul, MaxPool, MaxPoolGrad, AvgPool, AvgPoolGrad, and Sum over all axes but the last,
 * i.e. bias gradients; and the element-wise work of a training step: Relu, its gradient, bias Add,
 * and Identity/Cast, which share the input's buffer instead of copying it; and embeddings: GatherV2
 * (any axis) and UnsortedSegmentSum, its gradient), registered on the
 * tfjs **wasm** backend in place of its own; and kernels of its own with their gradients: the dense
 * stack (a run of Dense layers) and the softmax cross-entropy.
 *
 * Each kernel reads its inputs from and writes its output to the wasm heap in place (oneDNN gets
 * pointers into the wasm memory; nothing is copied), so the rest of the graph (element-wise ops,
 * reductions, the optimizer) keeps running on wasm. Every case a kernel does not handle (NCHW,
 * non-float32, prelu/elu activations, broadcast shapes oneDNN does not take) runs the kernel that
 * was registered before, so registering never changes what a model computes, only how fast.
 *
 * This file registers them; each op family lives in its own file, as the wasm kernels do in
 * ../../wasm-kernels/: conv.ts, matmul.ts, pooling.ts, reductions.ts, elementwise.ts, embeddings.ts,
 * over what they share (context.ts: the heap, the addon, fallbacks, statistics).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { availableParallelism } from 'node:os';
import { loadNativeAddon } from '../addon.js';
import { disabled, engine, previous, stats, type KernelArgs, type NativeKernelFunc, type NativeKernelStats } from './context.js';
import { conv2dBackpropFilter, conv2dBackpropInput, conv2dKernel } from './conv.js';
import { matMulKernel } from './matmul.js';
import { avgPool, avgPoolGrad, maxPool, maxPoolGrad } from './pooling.js';
import { installMaxGradient, max, restoreMaxGradient, sum } from './reductions.js';
import { add, installReluGradient, relu, restoreReluGradient, share, transpose } from './elementwise.js';
import { gatherV2, unsortedSegmentSum } from './embeddings.js';
import { DENSE_STACK, DENSE_STACK_CROSS_ENTROPY, denseStackCrossEntropyKernel, denseStackGrad, denseStackKernel } from './dense-stack.js';
import { SOFTMAX_CROSS_ENTROPY, softmaxCrossEntropyGrad, softmaxCrossEntropyKernel } from './cross-entropy.js';

export { RELU_GRAD } from './elementwise.js';
export { MAX_GRAD } from './reductions.js';
export { DENSE_STACK, DENSE_STACK_CROSS_ENTROPY, denseStackEnabled, denseStackCrossEntropyEnabled, denseStackInputNames, type DenseStackAttrs } from './dense-stack.js';
export { SOFTMAX_CROSS_ENTROPY, crossEntropyKernelActive, crossEntropyShapesOk, type CrossEntropyReduction } from './cross-entropy.js';
export { nativeHost, type NativeKernelStats, type WasmHost } from './context.js';

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

const KERNEL_FUNCS: Record<(typeof NATIVE_KERNELS)[number], NativeKernelFunc> = {
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

export type RegisterResult =
  | { ok: true; kernels: string[]; threads: number; onednn: string; isa: string }
  | { ok: false; reason: string };

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
  const addon = (engine.addon = loaded.addon);
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
    installReluGradient();
    installMaxGradient();
    if (tf.getKernel(DENSE_STACK, 'wasm') === undefined) {
      tf.registerKernel({ kernelName: DENSE_STACK, backendName: 'wasm', kernelFunc: denseStackKernel as unknown as tf.KernelFunc });
      tf.registerGradient(denseStackGrad);
    }
    if (tf.getKernel(DENSE_STACK_CROSS_ENTROPY, 'wasm') === undefined) {
      tf.registerKernel({ kernelName: DENSE_STACK_CROSS_ENTROPY, backendName: 'wasm', kernelFunc: denseStackCrossEntropyKernel as unknown as tf.KernelFunc });
    }
    if (tf.getKernel(SOFTMAX_CROSS_ENTROPY, 'wasm') === undefined) {
      tf.registerKernel({ kernelName: SOFTMAX_CROSS_ENTROPY, backendName: 'wasm', kernelFunc: softmaxCrossEntropyKernel as unknown as tf.KernelFunc });
      tf.registerGradient(softmaxCrossEntropyGrad);
    }
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
  restoreReluGradient();
  restoreMaxGradient();
  previous.clear();
}

/**
 * Switches one native kernel off (its previous wasm kernel runs instead) or back on, to measure
 * what it brings. Names: those of {@link NATIVE_KERNELS}, and {@link RELU_GRAD} for the fused
 * ReLU gradient (off: tfjs's Step, Cast, Multiply), {@link MAX_GRAD} for the one-pass gradient of Max
 * (off: tfjs's Equal, Cast, Multiply), {@link DENSE_STACK} for whole runs of Dense layers in one
 * call (off: tfjs-layers runs them layer by layer), {@link DENSE_STACK_CROSS_ENTROPY} for an attack's
 * cross-entropy probe of a dense stack in one call (off: the tape runs it), and
 * {@link SOFTMAX_CROSS_ENTROPY} for the softmax cross-entropy in one call each way (off: tfjs's
 * composition).
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
