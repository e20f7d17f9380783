import * as tf from '@tensorflow/tfjs-core';
import type { LayersClassifier } from '../model/classifier.js';

/** What a strategy is given for one batch. */
export interface BatchContext {
  /** Inputs `[b, ...inputShape]`, inside the domain. */
  xs: tf.Tensor;
  /** Integer labels `[b]`. */
  labels: tf.Tensor1D;
  /** One-hot labels `[b, numClasses]`. */
  ys: tf.Tensor2D;
  /** Fractional epoch, for schedules such as ε warm-up. */
  epoch: number;
  /** Seed for this batch's random choices (derived from the run's seed, epoch and step). */
  seed: number;
}

/** The loss of one batch and the logits the accuracy metric is read from. */
export interface BatchLoss {
  loss: tf.Scalar;
  /** Logits on the inputs the model is trained on (adversarial ones, for adversarial strategies). */
  logits: tf.Tensor2D;
}

/**
 * Decides how each batch is perturbed and which loss trains the model. The Trainer owns the
 * loop, the optimizer, logging and checkpoints; strategies own nothing but this choice.
 * `loss` runs inside the gradient tape: anything it computes for the attack must not leak
 * gradients into the weights (use `tf.stopGradient` or compute it before the tape).
 *
 * @example
 * ```ts
 * const standard: TrainingStrategy = {
 *   name: 'standard',
 *   loss: (clf, b) => { const logits = clf.trainingLogits(b.xs); return { logits, loss: tf.losses.softmaxCrossEntropy(b.ys, logits) }; },
 * };
 * ```
 */
export interface TrainingStrategy {
  readonly name: string;
  /** Optional work before the tape (e.g. crafting adversarial inputs); returns tensors `loss` may use. */
  prepare?(clf: LayersClassifier, batch: BatchContext): tf.Tensor | undefined;
  loss(clf: LayersClassifier, batch: BatchContext, prepared?: tf.Tensor): BatchLoss;
}

/** Plain empirical risk minimisation on clean inputs. */
export const standardStrategy: TrainingStrategy = {
  name: 'standard',
  loss(clf, batch) {
    const logits = clf.trainingLogits(batch.xs);
    return { logits, loss: tf.losses.softmaxCrossEntropy(batch.ys, logits) };
  },
};
