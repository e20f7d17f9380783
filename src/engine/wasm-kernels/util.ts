import * as tf from '@tensorflow/tfjs-core';

/** The parts of tfjs-backend-wasm's `BackendWasm` that the JS-loop kernels use. */
export interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/** Arguments every kernelFunc receives. */
export interface KernelArgs {
  inputs: Record<string, tf.TensorInfo>;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

/**
 * The kernel registered for `name` on wasm before advtrain touched it (undefined where there was
 * none). Captured once, at the first registration, so replacements can fall back to it.
 */
const originals = new Map<string, tf.KernelConfig | undefined>();

export function captureOriginal(name: string): tf.KernelConfig | undefined {
  if (!originals.has(name)) originals.set(name, tf.getKernel(name, 'wasm'));
  return originals.get(name);
}

export function originalKernel(name: string): tf.KernelConfig | undefined {
  return originals.get(name);
}

/** Runs the captured original kernel (throws if there was none). */
export function runOriginal(name: string, args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const k = originals.get(name);
  if (!k) throw new Error(`advtrain: no original wasm kernel '${name}' to fall back to`);
  return k.kernelFunc(args as Parameters<tf.KernelFunc>[0]);
}

/** Treats a TensorInfo that the engine handed to a kernel as a Tensor (it is one in practice). */
export function asTensor<T extends tf.Tensor = tf.Tensor>(info: tf.TensorInfo): T {
  return info as unknown as T;
}

/** Normalises an `[h, w]` or scalar attribute to a pair. */
export function pair(v: number | [number, number] | number[] | undefined, dflt = 1): [number, number] {
  if (v === undefined || v === null) return [dflt, dflt];
  if (typeof v === 'number') return [v, v];
  return [v[0], v.length > 1 ? v[1] : v[0]];
}
