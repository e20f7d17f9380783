/**
 * The native engine: TF.js's hot kernels (convolutions, matmuls, max pooling, forward and
 * gradient) on oneDNN through a Node-API addon, registered on the tfjs wasm backend, with the
 * element-wise work of a training step (ReLU and its gradient, bias adds, no-copy Identity/Cast),
 * the embedding look-up and its gradient (GatherV2 on any axis, UnsortedSegmentSum);
 * optimizer updates (Adam, SGD, momentum) as one fused native kernel per step; and whole MLPs (runs
 * of Dense layers) as one kernel forward and one backward (fused-model.ts), and the softmax
 * cross-entropy likewise (kernels/cross-entropy.ts, through src/engine/cross-entropy.ts).
 *
 * @example
 * ```ts
 * import { loadNativeAddon, registerNativeKernels } from './engine/native/index.js';
 * const a = loadNativeAddon();
 * if (!a.ok) console.log(a.reason); // one line: why, and how to enable the fast engine
 * else registerNativeKernels(2);
 * ```
 */
export { loadNativeAddon, type LoadResult, type NativeAddon } from './addon.js';
export {
  NATIVE_KERNELS,
  registerNativeKernels,
  unregisterNativeKernels,
  nativeKernelsRegistered,
  nativeKernelStats,
  nativeHost,
  setNativeKernelEnabled,
  RELU_GRAD,
  MAX_GRAD,
  DENSE_STACK,
  DENSE_STACK_CROSS_ENTROPY,
  SOFTMAX_CROSS_ENTROPY,
  crossEntropyKernelActive,
  crossEntropyShapesOk,
  type CrossEntropyReduction,
  type NativeKernelStats,
  type WasmHost,
  type RegisterResult,
} from './kernels/index.js';
export { nativeModelApply, nativeCrossEntropyProbe, denseStackPlan, type CrossEntropyProbe } from './fused-model.js';
export { NativeAdamOptimizer, NativeSGDOptimizer, NativeMomentumOptimizer, nativeOptimizersActive, nativeOptimizerStats, type NativeOptimizerStats } from './optimizers.js';
