/**
 * The two steps every bench times, on a fixed batch: one training step (forward, backward, `opt`
 * update) and the loss gradient w.r.t. the input, the inner step of every attack: the gradient
 * attacks' own `probe` (src/attacks/gradient.ts: logits, per-example cross-entropy, success flags
 * and input gradient, the gradient's sum read back), which on the native engine runs a dense-stack
 * model as one call. For a model whose first layer is an embedding: the tape's gradient w.r.t.
 * the embedded tokens, as gradient-guided word attacks take it.
 *
 * @example
 * ```ts
 * const s = benchSteps(model, x, y, makeOptimizer('adam', 0));
 * s.train(); s.igrad(); s.dispose();
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { fromLayersModel } from '../src/model/classifier.js';
import { softmaxCrossEntropy } from '../src/engine/cross-entropy.js';
import { probe } from '../src/attacks/gradient.js';

export interface BenchSteps {
  train(): void;
  igrad(): void;
  /** The weight gradients of one training step (the caller disposes them), for timing the optimizer alone. */
  gradients(): tf.NamedTensorMap;
  /** Frees what the steps hold (the embedded batch of token models); the optimizer stays the caller's. */
  dispose(): void;
}

export function benchSteps(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor, opt: tf.Optimizer): BenchSteps {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  // The training loss, as the Trainer's strategies take it (one kernel each way on the native engine).
  const loss = (logits: tf.Tensor) => softmaxCrossEntropy(logits, y, 'mean');
  // Through the Classifier adapter, as the Trainer and the attacks run a model.
  const clf = fromLayersModel(model, { domain: { lower: 0, upper: 1 } });
  const stepGrads = () => tf.variableGrads(() => loss(clf.trainingLogits(x)), vars);
  const train = () =>
    tf.tidy(() => {
      const { value, grads } = stepGrads();
      opt.applyGradients(grads);
      value.dataSync();
    });
  const gradients = () => tf.tidy(() => stepGrads().grads);
  const [first, ...body] = model.layers;
  if (first!.getClassName() === 'Embedding') {
    const e = tf.tidy(() => first!.apply(x) as tf.Tensor);
    const g = tf.grad((ei: tf.Tensor) => loss(body.reduce((h, l) => l.apply(h) as tf.Tensor, ei)));
    return { train, gradients, igrad: () => tf.tidy(() => void tf.sum(g(e)).dataSync()), dispose: () => e.dispose() };
  }
  const labels = tf.argMax(y, 1) as tf.Tensor1D;
  // The gradient's sum read back, as the PyTorch peer's g.sum().item(): a scalar, not a copy of the whole gradient.
  const igrad = () => tf.tidy(() => void tf.sum(probe(clf, x, labels, 'ce').grad).dataSync());
  return { train, gradients, igrad, dispose: () => labels.dispose() };
}

/** `n` random labels of `numClasses` classes, one-hot float32 (seed 2, as every bench uses). */
export function randomLabels(n: number, numClasses: number): tf.Tensor2D {
  return tf.tidy(() => tf.cast(tf.oneHot(tf.randomUniform([n], 0, numClasses, 'int32', 2) as tf.Tensor1D, numClasses), 'float32') as tf.Tensor2D);
}
