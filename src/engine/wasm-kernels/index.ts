/**
 * advtrain's training kernels for tfjs-backend-wasm 4.22.
 *
 * The wasm backend ships forward kernels only for some ops and slow gradient kernels for
 * others. {@link registerWasmTrainingKernels} adds the missing ones (`Conv2DBackpropFilter`,
 * `UnsortedSegmentSum`) and replaces the slow ones (`Conv2DBackpropInput`, `MaxPoolGrad`,
 * `BatchMatMul` with transposes, `GatherV2` — faster on axis 0 and correct with `batchDims`, where
 * tfjs's reads out of bounds —, broadcasting `Equal`), each built from kernels wasm runs fast
 * (XNNPACK convolutions and matmuls) or from tight JS loops over the wasm heap.
 * The originals stay reachable for fallbacks and benchmarks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { conv2DBackpropInputConfig } from './conv2d-backprop-input.js';
import { maxPoolGradConfig } from './max-pool-grad.js';
import { unsortedSegmentSumConfig } from './unsorted-segment-sum.js';
import { batchMatMulConfig } from './batch-mat-mul.js';
import { gatherV2Config } from './gather-v2.js';
import { equalConfig } from './equal.js';
import { captureOriginal, originalKernel } from './util.js';

const CONFIGS: tf.KernelConfig[] = [
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  maxPoolGradConfig,
  unsortedSegmentSumConfig,
  batchMatMulConfig,
  gatherV2Config,
  equalConfig,
];

/** Names of the kernels advtrain registers (missing on wasm) or replaces (slow on wasm). */
export const WASM_TRAINING_KERNELS: string[] = CONFIGS.map((c) => c.kernelName);

/** The subset of {@link WASM_TRAINING_KERNELS} that tfjs-backend-wasm already had. */
export function replacedWasmKernels(): string[] {
  return WASM_TRAINING_KERNELS.filter((n) => originalKernel(n) !== undefined);
}

let registered = false;

function install(config: tf.KernelConfig): void {
  const original = captureOriginal(config.kernelName);
  const current = tf.getKernel(config.kernelName, 'wasm');
  if (current !== undefined) tf.unregisterKernel(config.kernelName, 'wasm');
  // The original kernel's setup (its cwrap of the C++ function) must still run when the wasm
  // backend initialises, or the fallback path would call an unbound function.
  tf.registerKernel(original?.setupFunc ? { ...config, setupFunc: original.setupFunc } : config);
}

/**
 * Registers advtrain's wasm training kernels. Idempotent; call it before
 * `tf.setBackend('wasm')` (calling it later also works, as long as the wasm backend was set up
 * with the original kernels registered).
 *
 * @example
 * ```ts
 * registerWasmTrainingKernels();
 * await tf.setBackend('wasm');
 * ```
 */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  for (const c of CONFIGS) install(c);
  registered = true;
}

/**
 * Puts tfjs-backend-wasm's own kernels back for the kernels advtrain replaced (`true`), or
 * advtrain's again (`false`). The kernels wasm lacks stay advtrain's. For benchmarks and tests.
 */
export function useOriginalWasmKernels(original: boolean): void {
  registerWasmTrainingKernels();
  for (const c of CONFIGS) {
    const orig = originalKernel(c.kernelName);
    if (!orig) continue;
    tf.unregisterKernel(c.kernelName, 'wasm');
    tf.registerKernel(original ? orig : { ...c, setupFunc: orig.setupFunc });
  }
}

/** Whether a given kernel name is one of advtrain's on wasm right now. */
export function isAdvtrainKernel(name: string): boolean {
  const k = tf.getKernel(name, 'wasm');
  return k !== undefined && CONFIGS.some((c) => c.kernelName === name && c.kernelFunc === k.kernelFunc);
}
