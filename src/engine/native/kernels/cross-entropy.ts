/**
 * Softmax cross-entropy as ONE kernel of the native engine, forward and backward: logits [b, k]
 * against int32 class indices [b] or float32 label distributions [b, k], a loss per row or their
 * sum or mean. tfjs composes it from ~17 kernels each way (log-sum-exp, log-softmax, the product
 * with the labels, the row sums, the reduction, and their gradients); for an MLP on the dense stack
 * those were most of the step's kernels. Called only through `softmaxCrossEntropy`
 * (src/engine/cross-entropy.ts), which runs tfjs's composition on every other backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { disabled, engine, host, nativeHost, off, stat, type Inputs, type KernelArgs, type WasmHost } from './context.js';

export const SOFTMAX_CROSS_ENTROPY = 'AdvtrainSoftmaxCrossEntropy';

/** How the per-row losses are reduced: kept ([b]), summed or averaged (a scalar). */
export type CrossEntropyReduction = 'none' | 'sum' | 'mean';
const REDUCTION_CODE: Record<CrossEntropyReduction, number> = { none: 0, sum: 1, mean: 2 };

export interface SoftmaxCrossEntropyAttrs {
  reduction: CrossEntropyReduction;
}

interface Geometry {
  rows: number;
  classes: number;
  sparse: number;
  reduction: number;
}

function geometry(logits: tf.TensorInfo, labels: tf.TensorInfo, attrs: SoftmaxCrossEntropyAttrs): Geometry {
  return { rows: logits.shape[0]!, classes: logits.shape[1]!, sparse: labels.shape.length === 1 ? 1 : 0, reduction: REDUCTION_CODE[attrs.reduction] };
}

/** Whether the kernel takes these tensors: float32 logits [b, k] (b, k > 0) and int32 [b] or float32 [b, k] labels. */
export function crossEntropyShapesOk(logits: tf.TensorInfo, labels: tf.TensorInfo): boolean {
  if (logits.dtype !== 'float32' || logits.shape.length !== 2 || !(logits.shape[0]! > 0 && logits.shape[1]! > 0)) return false;
  if (labels.shape.length === 1) return labels.dtype === 'int32' && labels.shape[0] === logits.shape[0];
  return labels.dtype === 'float32' && tf.util.arraysEqual(labels.shape, logits.shape);
}

export function softmaxCrossEntropyKernel(args: KernelArgs): tf.TensorInfo {
  const { logits, labels } = args.inputs as Inputs;
  const attrs = args.attrs as unknown as SoftmaxCrossEntropyAttrs;
  const b = host(args);
  const g = geometry(logits!, labels!, attrs);
  const out = b.makeOutput(g.reduction === 0 ? [g.rows] : [], 'float32');
  try {
    engine.addon!.softmaxCrossEntropy(b.wasm.HEAPU8, off(b, logits!), off(b, labels!), off(b, out), g.rows, g.classes, g.sparse, g.reduction);
  } catch (e) {
    b.disposeData(out.dataId, true);
    throw e;
  }
  stat(SOFTMAX_CROSS_ENTROPY).native++;
  return out;
}

/**
 * The gradient, one native call: the logits' `dy·(softmax − y)`. The labels get what tfjs's
 * compositions give them: the negated logits' gradient for distributions (tfjs's
 * softmaxCrossEntropy), zeros for class indices (the gradient of OneHot).
 */
export const softmaxCrossEntropyGrad: tf.GradConfig = {
  kernelName: SOFTMAX_CROSS_ENTROPY,
  inputsToSave: ['logits', 'labels'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrsMap: tf.NamedAttrMap) => {
    const [logits, labels] = saved as [tf.Tensor, tf.Tensor];
    const d = Array.isArray(dy) ? dy[0]! : dy;
    const g = geometry(logits, labels, attrsMap as unknown as SoftmaxCrossEntropyAttrs);
    const dLogits = () => {
      const b = tf.backend() as unknown as WasmHost;
      const dz = b.makeOutput([...logits.shape], 'float32');
      engine.addon!.softmaxCrossEntropyGrad(b.wasm.HEAPU8, off(b, logits), off(b, labels), off(b, d), off(b, dz), g.rows, g.classes, g.sparse, g.reduction);
      return tf.engine().makeTensorFromTensorInfo(dz, tf.backend());
    };
    return { logits: dLogits, labels: () => (g.sparse ? tf.zeros(labels.shape, 'float32') : tf.neg(dLogits())) };
  },
};

/** Whether the kernel is on (registered, the native engine active, and not switched off for an A/B run). */
export function crossEntropyKernelActive(): boolean {
  return nativeHost() !== undefined && !disabled.has(SOFTMAX_CROSS_ENTROPY) && tf.getKernel(SOFTMAX_CROSS_ENTROPY, 'wasm') !== undefined;
}
