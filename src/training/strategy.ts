import * as tf from '@tensorflow/tfjs-core';
import type { LayersClassifier } from '../model/classifier.js';
import type { ThreatModel } from '../threat/threat-model.js';
import { softmaxCrossEntropy } from '../engine/cross-entropy.js';

/** What a strategy is given for one batch. */
export interface BatchContext {
  /** Inputs `[b, ...inputShape]`, inside the domain. */
  xs: tf.Tensor;
  /** Integer labels `[b]`. */
  labels: tf.Tensor1D;
  /** One-hot labels `[b, numClasses]`. */
  ys: tf.Tensor2D;
  /** Fractional epoch, for schedules. */
  epoch: number;
  /** Seed for this batch's random choices (derived from the run's seed and step). */
  seed: number;
  /** The threat model for this batch, ε already warmed up (absent for standard training). */
  threat?: ThreatModel;
}

/** Logits of some rows of the batch: rows `from … from + logits.shape[0] − 1` (default from 0). */
export interface LogitsPart {
  logits: tf.Tensor2D;
  from?: number;
}

/**
 * The loss of one batch, and the logits the Trainer reads its metrics from: clean-input logits
 * give the clean loss/accuracy, adversarial-input logits the adversarial training loss/accuracy.
 */
export interface BatchLoss {
  loss: tf.Scalar;
  clean?: LogitsPart;
  adv?: LogitsPart;
}

/**
 * Decides how each batch is perturbed and which loss trains the model. The Trainer owns the
 * loop, the optimizer, logging, guards and checkpoints; strategies own nothing but this choice.
 * `prepare` runs before the gradient tape (crafting adversarial inputs costs no weight
 * gradients); `loss` runs inside it.
 *
 * @example
 * ```ts
 * const standard: TrainingStrategy = {
 *   name: 'standard',
 *   loss: (clf, b) => { const logits = clf.trainingLogits(b.xs); return { clean: { logits }, loss: tf.losses.softmaxCrossEntropy(b.ys, logits) }; },
 * };
 * ```
 */
export interface TrainingStrategy {
  readonly name: string;
  /** Settings written to the run's config (what a resume must match). */
  readonly params?: Readonly<Record<string, unknown>>;
  /** Optimizer steps per minibatch (Free adversarial training replays each batch m times). Default 1. */
  readonly replays?: number;
  /** Crafts what `loss` needs (e.g. adversarial inputs) outside the tape; the Trainer disposes it. */
  prepare?(clf: LayersClassifier, batch: BatchContext): tf.Tensor | undefined;
  loss(clf: LayersClassifier, batch: BatchContext, prepared?: tf.Tensor): BatchLoss;
  /** Non-weight variables whose gradient the same backward pass should also compute (Free's δ). */
  extraVariables?(batch: BatchContext): tf.Variable[];
  /** Receives the gradients of `extraVariables` after each step. */
  afterStep?(grads: tf.NamedTensorMap, batch: BatchContext): void;
  /** Called when the catastrophic-overfitting guard rolled the weights back; returns a line saying what changed, or undefined to stop training. */
  onCollapse?(): string | undefined;
  /** Releases any state (variables) the strategy holds. */
  dispose?(): void;
  /** State that changes during training besides the weights (Free's δ, FGSM-RS's α after a collapse), for checkpoints; the strategy keeps owning the tensors. */
  saveState?(): StrategyState;
  /** Restores what {@link TrainingStrategy.saveState} returned (the caller keeps owning the tensors). */
  loadState?(state: StrategyState): void;
}

/** A strategy's checkpointed state: JSON values and named tensors. */
export interface StrategyState {
  json?: Record<string, unknown>;
  tensors?: tf.NamedTensorMap;
}

/** Plain empirical risk minimisation on clean inputs. */
export const standardStrategy: TrainingStrategy = {
  name: 'standard',
  loss(clf, batch) {
    const logits = clf.trainingLogits(batch.xs);
    return { clean: { logits }, loss: softmaxCrossEntropy(logits, batch.ys, 'mean') };
  },
};
