/**
 * What every native kernel shares: the wasm heap it reads and writes, the addon, the kernels that
 * were registered before (the fallbacks), per-kernel statistics and the shape checks.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon } from '../addon.js';

/** The parts of tfjs-backend-wasm 4.22's `BackendWasm` the kernels rely on. */
export interface WasmHost {
  wasm: { HEAPU8: Uint8Array; _malloc(bytes: number): number };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  /** A new tensor: a fresh buffer, or (memoryOffset) one the caller allocated with wasm._malloc. */
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number): tf.TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
  /** How many tensors share the buffer of `dataId`. */
  refCount(dataId: object): number;
}

/** Kernel inputs by name (optional ones may be undefined or null). */
export type Inputs = Record<string, tf.TensorInfo>;

export interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

/** A kernel's function as the registration installs it. */
export type NativeKernelFunc = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];

/** How often each kernel ran natively and how often (and last why) it fell back. */
export interface NativeKernelStats {
  native: number;
  fallback: number;
  lastFallback?: string;
}

/** The loaded addon, once {@link registerNativeKernels} ran. */
export const engine: { addon?: NativeAddon } = {};
/** The kernels registered before ours, by name (empty while the native kernels are not registered). */
export const previous = new Map<string, tf.KernelConfig | undefined>();
/** Kernels switched back to their previous implementation (for A/B measurements). */
export const disabled = new Set<string>();
export const stats = new Map<string, NativeKernelStats>();

export function stat(name: string): NativeKernelStats {
  let s = stats.get(name);
  if (!s) stats.set(name, (s = { native: 0, fallback: 0 }));
  return s;
}

/** Runs `own` (a kernel of the native engine's own: its wasm equivalent) or the kernel that was registered before ours, noting why. */
export function fallback(name: string, args: KernelArgs, why: string, own?: NativeKernelFunc): tf.TensorInfo | tf.TensorInfo[] {
  const s = stat(name);
  s.fallback++;
  s.lastFallback = why;
  const prev = own ? { kernelFunc: own as tf.KernelFunc } : previous.get(name);
  if (!prev) throw new Error(`advtrain native: ${name} (${why}) and no wasm kernel to fall back to`);
  return prev.kernelFunc(args as Parameters<tf.KernelFunc>[0]);
}

export function host(args: KernelArgs): WasmHost {
  return args.backend as WasmHost;
}

export function off(b: WasmHost, t: tf.TensorInfo): number {
  const d = b.dataIdMap.get(t.dataId);
  if (!d) throw new Error('advtrain native: tensor is not on the wasm backend');
  return d.memoryOffset;
}

/** Calls the addon; on an error frees the output and falls back. */
export function runNative(
  name: string,
  args: KernelArgs,
  out: tf.TensorInfo,
  call: (heap: Uint8Array, addon: NativeAddon) => void,
): tf.TensorInfo | tf.TensorInfo[] {
  const b = host(args);
  try {
    // Re-read the heap right before the call: allocating the output may have grown the memory.
    call(b.wasm.HEAPU8, engine.addon!);
  } catch (e) {
    b.disposeData(out.dataId, true);
    return fallback(name, args, (e as Error).message);
  }
  stat(name).native++;
  return out;
}

export const isF32 = (...ts: (tf.TensorInfo | undefined)[]) => ts.every((t) => t === undefined || t.dtype === 'float32');
export const hasZero = (shape: number[]) => shape.some((d) => d === 0);

/** A bias the addon takes: float32, one value per output channel (shape [..., 1, n]). */
export function biasOk(bias: tf.TensorInfo | undefined, n: number): boolean {
  if (bias === undefined || bias === null) return true;
  if (bias.dtype !== 'float32' || bias.shape.length === 0) return false;
  return bias.shape[bias.shape.length - 1] === n && tf.util.sizeFromShape(bias.shape) === n;
}

export function activationOk(activation: unknown): activation is 'linear' | 'relu' | undefined | null {
  return activation === undefined || activation === null || activation === 'linear' || activation === 'relu';
}

/**
 * The wasm backend and the addon when the native engine is active now (the current backend is
 * wasm and the native kernels are registered), else undefined.
 */
export function nativeHost(): { backend: WasmHost; addon: NativeAddon } | undefined {
  if (!engine.addon || previous.size === 0 || tf.getBackend() !== 'wasm') return undefined;
  return { backend: tf.backend() as unknown as WasmHost, addon: engine.addon };
}
