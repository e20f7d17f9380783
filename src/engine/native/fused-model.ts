/**
 * Whole models on the native engine's fused kernels: a tfjs-layers model made of Dense layers
 * (after Flatten, with ReLU or linear activations, Dropout at inference) runs as ONE kernel, the
 * dense stack, forward and backward, instead of tfjs-layers' layer-by-layer ops. Every other model,
 * and every model while the native engine is not the active backend, runs as before.
 *
 * `fromLayersModel` (src/model/classifier.ts) calls {@link nativeModelApply} first, so every user
 * of a Classifier — training strategies, gradient attacks, evaluation — gets it without a change.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { nativeHost } from './kernels/context.js';
import { DENSE_STACK, DENSE_STACK_CROSS_ENTROPY, denseStackCrossEntropyEnabled, denseStackEnabled, type DenseStackAttrs } from './kernels/dense-stack.js';

/** What a layer contributes to a dense stack. */
type Step =
  | { kind: 'dense'; layer: tfl.layers.Layer; relu: boolean; bias: boolean }
  | { kind: 'relu' } // a ReLU layer after a linear Dense
  | { kind: 'flatten' }
  | { kind: 'dropout'; rate: number };

interface Plan {
  /** The model's input shape without the batch axis. */
  inputShape: number[];
  inDim: number;
  denses: { layer: tfl.layers.Layer & { kernel: tfl.LayerVariable; bias: tfl.LayerVariable | null } }[];
  attrs: DenseStackAttrs;
  /** Dropout with a nonzero rate: only inference runs fused. */
  dropout: boolean;
}

/** Plans by model, with the layers they were made from (a Sequential that grows is planned again). */
const plans = new WeakMap<tfl.LayersModel, { plan: Plan | null; layers: tfl.layers.Layer[] }>();

interface LayerInternals {
  activation?: { getClassName(): string };
  kernel?: tfl.LayerVariable;
  bias?: tfl.LayerVariable | null;
  rate?: number;
  maxValue?: number | null;
}

/** The plan of a model the dense stack can run, or null. */
export function denseStackPlan(model: tfl.LayersModel): Plan | null {
  const known = plans.get(model);
  if (known && known.layers.length === model.layers.length && known.layers.every((l, i) => l === model.layers[i])) return known.plan;
  const plan = makePlan(model);
  plans.set(model, { plan, layers: [...model.layers] });
  return plan;
}

function makePlan(model: tfl.LayersModel): Plan | null {
  if (model.getClassName() !== 'Sequential' || model.inputs.length !== 1 || model.outputs.length !== 1) return null;
  const inputShape = (model.inputs[0]!.shape as (number | null)[]).slice(1);
  if (inputShape.some((d) => d === null || d <= 0)) return null;
  const steps: Step[] = [];
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const li = layer as unknown as LayerInternals;
    if (cls === 'InputLayer') continue;
    if (cls === 'Flatten') steps.push({ kind: 'flatten' });
    else if (cls === 'Dropout') steps.push({ kind: 'dropout', rate: li.rate ?? 0 });
    else if (cls === 'Dense') {
      const act = li.activation?.getClassName();
      if (act !== 'linear' && act !== 'relu') return null;
      if (!li.kernel || li.kernel.dtype !== 'float32' || li.kernel.shape.length !== 2) return null;
      steps.push({ kind: 'dense', layer, relu: act === 'relu', bias: li.bias != null });
    } else if ((cls === 'Activation' && li.activation?.getClassName() === 'relu') || (cls === 'ReLU' && li.maxValue == null)) {
      steps.push({ kind: 'relu' });
    } else return null;
  }
  // Flatten only before the first Dense; Dense layers on a rank-2 input; a ReLU only after a linear Dense.
  const denses: Plan['denses'] = [];
  const relu: boolean[] = [];
  const bias: boolean[] = [];
  let flat = inputShape.length === 1;
  let dropout = false;
  for (const s of steps) {
    if (s.kind === 'flatten') {
      if (denses.length > 0) return null;
      flat = true;
    } else if (s.kind === 'dropout') dropout ||= s.rate > 0;
    else if (s.kind === 'relu') {
      if (denses.length === 0 || relu[relu.length - 1]) return null;
      relu[relu.length - 1] = true;
    } else {
      if (!flat) return null;
      denses.push({ layer: s.layer as Plan['denses'][number]['layer'] });
      relu.push(s.relu);
      bias.push(s.bias);
    }
  }
  if (denses.length === 0 || relu[relu.length - 1]) return null;
  const inDim = (inputShape as number[]).reduce((p, d) => p * d, 1);
  if (denses[0]!.layer.kernel.shape[0] !== inDim) return null;
  return { inputShape: inputShape as number[], inDim, denses, attrs: { relu, bias }, dropout };
}

/**
 * The model's output for `x` from the native engine's fused kernels, or undefined where they do
 * not apply (another backend, a layer they do not know, dropout in training, a non-float32 or
 * wrongly shaped input): then the caller runs `model.apply` as usual. Same values as
 * `model.apply(x, { training })` within float32 rounding; differentiable (one kernel on the tape).
 *
 * @example
 * ```ts
 * const z = nativeModelApply(model, x, false) ?? (model.apply(x) as tf.Tensor);
 * ```
 */
export function nativeModelApply(model: tfl.LayersModel, x: tf.Tensor, training: boolean): tf.Tensor | undefined {
  if (!denseStackEnabled() || !nativeHost()) return undefined;
  const plan = planFor(model, x, training);
  if (!plan) return undefined;
  // An array of inputs (as AddN takes): the tape saves them all for the gradient.
  return tf.engine().runKernel(DENSE_STACK, stackInputs(plan, x) as unknown as tf.NamedTensorMap, plan.attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/** The plan when the fused kernels can run the model on `x`. */
function planFor(model: tfl.LayersModel, x: tf.Tensor, training: boolean): Plan | undefined {
  const plan = denseStackPlan(model);
  if (!plan || (training && plan.dropout) || x.dtype !== 'float32' || x.rank !== plan.inputShape.length + 1) return undefined;
  if (x.shape[0] === 0 || !x.shape.slice(1).every((d, i) => d === plan.inputShape[i])) return undefined;
  return plan;
}

/** x, then each layer's kernel and (where it has one) bias. */
function stackInputs(plan: Plan, x: tf.Tensor): tf.Tensor[] {
  const inputs: tf.Tensor[] = [x];
  plan.denses.forEach(({ layer }, l) => {
    inputs.push(layer.kernel.read());
    if (plan.attrs.bias[l]) inputs.push(layer.bias!.read());
  });
  return inputs;
}

/** What an attack's cross-entropy probe gives: logits, per-example loss, and the input gradient of its sum. */
export interface CrossEntropyProbe {
  logits: tf.Tensor2D;
  /** Each example's softmax cross-entropy against its label, [b]. */
  loss: tf.Tensor1D;
  /** The gradient of the summed loss with respect to x, x's shape. */
  grad: tf.Tensor;
  /** Whether each example's prediction (its first largest logit) differs from its label, bool [b]. */
  success: tf.Tensor1D;
}

/**
 * The logits of `x`, each example's softmax cross-entropy against int32 class index `y`, the input
 * gradient of their sum, and whether each prediction misses its label, from ONE native call where the model is a dense stack (inference mode);
 * undefined elsewhere (the caller then runs the tape). The same values as
 * `tf.valueAndGrad(x => tf.sum(softmaxCrossEntropy(model(x), y)))` within float32 rounding.
 *
 * @example
 * ```ts
 * const p = nativeCrossEntropyProbe(model, x, labels);
 * if (p) tf.dispose([p.logits, p.loss, p.grad, p.success]);
 * ```
 */
export function nativeCrossEntropyProbe(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor1D): CrossEntropyProbe | undefined {
  if (!denseStackCrossEntropyEnabled() || !nativeHost()) return undefined;
  const plan = planFor(model, x, false);
  if (!plan || y.dtype !== 'int32' || y.rank !== 1 || y.shape[0] !== x.shape[0]) return undefined;
  const inputs = [...stackInputs(plan, x), y];
  const [logits, loss, grad, success] = tf.engine().runKernel(DENSE_STACK_CROSS_ENTROPY, inputs as unknown as tf.NamedTensorMap, plan.attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
  return { logits: logits as tf.Tensor2D, loss: loss as tf.Tensor1D, grad: grad!, success: success as tf.Tensor1D };
}
