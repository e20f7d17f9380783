import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type * as tfc from '@tensorflow/tfjs-converter';
import type { Domain } from '../data/domain.js';
import { nativeModelApply, nativeCrossEntropyProbe, type CrossEntropyProbe } from '../engine/native/fused-model.js';

/**
 * The one contract every model meets. Attacks and evaluations see nothing else.
 *
 * `logits` works in the user's input space (inside `domain`): any normalisation is part of the
 * model. A model that outputs probabilities is adapted once, here at the boundary.
 *
 * @example
 * ```ts
 * const clf = fromLayersModel(model, { domain: { lower: 0, upper: 1 } });
 * const logits = clf.logits(tf.zeros([1, 28, 28, 1])); // [1, 10]
 * ```
 */
export interface Classifier {
  /** Shape of one input, without the batch dimension. */
  readonly inputShape: number[];
  readonly numClasses: number;
  /** Valid inputs. */
  readonly domain: Domain;
  /** Logits for a batch `[b, ...inputShape]`, shape `[b, numClasses]`. Differentiable for white-box models. */
  logits(x: tf.Tensor): tf.Tensor2D;
  /** True for models that can only be queried (ONNX): gradients do not flow through `logits`, so only score- and decision-based attacks apply. */
  readonly queryOnly?: boolean;
}

type ProbeFn = (x: tf.Tensor, y: tf.Tensor1D) => CrossEntropyProbe | undefined;

/** One-pass cross-entropy probes, by the `logits` function they compute the same values as. */
const crossEntropyProbes = new WeakMap<Classifier['logits'], ProbeFn>();

/**
 * The engine's one-pass cross-entropy probe for `clf` (logits, each example's softmax cross-entropy
 * against class index `y`, the input gradient of their sum, and whether each prediction misses its
 * label), or undefined. Kept by the `logits`
 * function it stands for, so a wrapper that changes the logits (`{ ...clf, logits: … }`) never
 * inherits it; one that keeps them (another domain) does. The probe itself returns undefined where
 * the engine cannot run it on that input; gradient attacks then run the tape.
 *
 * @example
 * ```ts
 * const p = crossEntropyProbeOf(clf)?.(x, labels);
 * if (p) tf.dispose([p.logits, p.loss, p.grad, p.success]);
 * ```
 */
export function crossEntropyProbeOf(clf: Classifier): ProbeFn | undefined {
  return crossEntropyProbes.get(clf.logits);
}

/**
 * A Classifier backed by a trainable tfjs LayersModel (what the Trainer needs).
 *
 * @example
 * ```ts
 * const clf: LayersClassifier = fromLayersModel(buildZooModel('mlp', { inputShape: [28, 28, 1], numClasses: 10 }), { domain: { lower: 0, upper: 1 } });
 * clf.model.summary();
 * ```
 */
export interface LayersClassifier extends Classifier {
  readonly model: tfl.LayersModel;
  /** Logits with dropout etc. in training mode. */
  trainingLogits(x: tf.Tensor): tf.Tensor2D;
}

/**
 * What the model's last layer outputs.
 *
 * @example
 * ```ts
 * const output: ModelOutput = 'probabilities'; // the model ends in a softmax
 * const clf = fromLayersModel(model, { domain: { lower: 0, upper: 1 }, output });
 * ```
 */
export type ModelOutput = 'logits' | 'probabilities';

/**
 * Options of the adapters ({@link fromLayersModel}, {@link fromGraphModel}, {@link fromFunction}): the valid inputs and what the model outputs.
 *
 * @example
 * ```ts
 * const opts: AdapterOptions = { domain: { lower: 0, upper: 1 }, output: 'probabilities' };
 * const clf = fromLayersModel(model, opts);
 * ```
 */
export interface AdapterOptions {
  domain: Domain;
  /** Default 'logits'. With 'probabilities', logits are log(p), clamped away from log(0). */
  output?: ModelOutput;
}

const PROB_FLOOR = 1e-12;

/** Runs a model and adapts its output to logits; intermediates never outlive the call. */
function toLogits(run: () => tf.Tensor, output: ModelOutput): tf.Tensor2D {
  return tf.tidy(() => (output === 'logits' ? run() : tf.log(tf.maximum(run(), PROB_FLOOR))) as tf.Tensor2D);
}

/**
 * Wraps a tfjs LayersModel.
 *
 * @example
 * ```ts
 * const clf = fromLayersModel(buildZooModel('mlp', { inputShape: [41], numClasses: 2 }), { domain: { lower: 0, upper: 1 } });
 * ```
 */
export function fromLayersModel(model: tfl.LayersModel, opts: AdapterOptions): LayersClassifier {
  const output = opts.output ?? 'logits';
  const inputShape = (model.inputs[0]!.shape as (number | null)[]).slice(1).map((d) => d ?? -1);
  const outShape = model.outputs[0]!.shape as (number | null)[];
  const numClasses = outShape[outShape.length - 1] ?? -1;
  // The native engine runs known layer stacks as one fused kernel; any other model as tfjs-layers does.
  const logits = (x: tf.Tensor) => toLogits(() => nativeModelApply(model, x, false) ?? (model.apply(x, { training: false }) as tf.Tensor), output);
  if (output === 'logits') crossEntropyProbes.set(logits, (x, y) => nativeCrossEntropyProbe(model, x, y));
  return {
    model,
    inputShape,
    numClasses,
    domain: opts.domain,
    logits,
    trainingLogits: (x) => toLogits(() => nativeModelApply(model, x, true) ?? (model.apply(x, { training: true }) as tf.Tensor), output),
  };
}

/**
 * Wraps a tfjs GraphModel (a converted TensorFlow SavedModel or Keras model).
 *
 * @example
 * ```ts
 * const graph = await tfc.loadGraphModel(fileHandler('model/'));
 * const clf = fromGraphModel(graph, { domain: { lower: 0, upper: 1 }, inputShape: [28, 28, 1], numClasses: 10 });
 * ```
 */
export function fromGraphModel(
  model: tfc.GraphModel,
  opts: AdapterOptions & { inputShape: number[]; numClasses: number },
): Classifier {
  const output = opts.output ?? 'logits';
  return {
    inputShape: opts.inputShape,
    numClasses: opts.numClasses,
    domain: opts.domain,
    logits: (x) => toLogits(() => model.predict(x) as tf.Tensor, output),
  };
}

/**
 * Wraps a plain function from a batch of inputs to logits (or probabilities).
 *
 * @example
 * ```ts
 * const w = tf.tensor2d([[1], [-1]]);
 * const linear = fromFunction((x) => tf.concat([tf.matMul(x as tf.Tensor2D, w), tf.zeros([x.shape[0], 1])], 1),
 *   { inputShape: [2], numClasses: 2, domain: { lower: -10, upper: 10 } });
 * ```
 */
export function fromFunction(
  fn: (x: tf.Tensor) => tf.Tensor,
  opts: AdapterOptions & { inputShape: number[]; numClasses: number },
): Classifier {
  const output = opts.output ?? 'logits';
  return {
    inputShape: opts.inputShape,
    numClasses: opts.numClasses,
    domain: opts.domain,
    logits: (x) => toLogits(() => fn(x), output),
  };
}
