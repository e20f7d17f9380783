import type * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../../data/dataset.js';
import type { LayersClassifier } from '../../model/classifier.js';
import type { ThreatModel } from '../../threat/threat-model.js';
import type { TrainingStrategy } from '../strategy.js';
import type { EpochSums } from '../epoch-sums.js';
import type { EpochMetrics, TrainConfig } from '../train-config.js';

/**
 * What the training loop shows its callbacks.
 *
 * @example
 * ```ts
 * const stepper: TrainCallback = { name: 'stepper', onEpochEnd: (loop: TrainLoop) => console.log(`${loop.step} steps, eps ${loop.threatAt(loop.history.length)?.eps}`) };
 * ```
 */
export interface TrainLoop {
  readonly clf: LayersClassifier;
  readonly optimizer: tf.Optimizer;
  readonly config: TrainConfig;
  readonly strategy: TrainingStrategy;
  readonly trainSet: Dataset;
  readonly valSet?: Dataset;
  readonly stepsPerEpoch: number;
  /** Optimizer steps taken so far. */
  readonly step: number;
  /** Metrics of the epochs completed. */
  readonly history: readonly EpochMetrics[];
  /** The threat model at fractional epoch t, ε warmed up. */
  threatAt(t: number): ThreatModel | undefined;
  /** Lines for the user (guard events); printed once. */
  log(line: string): void;
}

/**
 * How far an epoch has got: what a mid-epoch checkpoint saves besides weights and optimizer.
 *
 * @example
 * ```ts
 * const ticker: TrainCallback = { name: 'ticker', onBatchEnd: (loop, p: EpochProgress) => console.log(p.epoch, p.batch, p.lr) };
 * ```
 */
export interface EpochProgress {
  /** 0-based epoch. */
  epoch: number;
  /** Batches done. */
  batch: number;
  /** Optimizer steps at the start of the epoch (a roll-back returns there). */
  stepAtStart: number;
  sums: EpochSums;
  /** Learning rate of the last step. */
  lr: number;
  /** Wall time spent in the epoch so far, seconds. */
  seconds: number;
}

/**
 * A callback's checkpointed state: JSON values and named tensors (the callback keeps owning them).
 *
 * @example
 * ```ts
 * let seen = 0;
 * const counter: TrainCallback = {
 *   name: 'counter',
 *   onEpochEnd: () => { seen++; },
 *   saveState: (): CallbackState => ({ json: { seen } }),
 *   loadState: (s) => { seen = Number(s.json?.seen ?? 0); },
 * };
 * ```
 */
export interface CallbackState {
  json?: Record<string, unknown>;
  tensors?: tf.NamedTensorMap;
}

/**
 * A guard's verdict on a trained epoch: keep it, or roll it back and retry it or stop training.
 *
 * @example
 * ```ts
 * // stop when, five epochs in, the last recorded epoch's validation accuracy is below 20%
 * const giveUp: TrainCallback = {
 *   name: 'give-up',
 *   checkEpoch: (loop, p): EpochVerdict =>
 *     p.epoch >= 5 && (loop.history.at(-1)?.val_accuracy ?? 1) < 0.2 ? { kind: 'stop', line: 'validation accuracy below 20% after 5 epochs' } : { kind: 'keep' },
 * };
 * ```
 */
export type EpochVerdict = { kind: 'keep' } | { kind: 'retry' | 'stop'; line: string };

/**
 * A piece of the training loop that is not the step itself: a guard, a validation, the metrics
 * log, checkpoints — or what a text or tabular method needs. Hooks run in the order the
 * callbacks are listed; every hook is optional.
 *
 * @example
 * ```ts
 * const printer: TrainCallback = { name: 'printer', onEpochEnd: (loop, m) => console.log(m.epoch, m.loss) };
 * await train(clf, data.train, undefined, { ...config, callbacks: [printer] });
 * ```
 */
export interface TrainCallback {
  /** Unique among a run's callbacks: names its state in checkpoints. */
  readonly name: string;
  /** Before the first epoch; `resumed` when continuing from a checkpoint (after {@link loadState}). */
  onTrainBegin?(loop: TrainLoop, resumed: boolean): Promise<void> | void;
  /** Before an epoch's first batch; `resuming` when it continues from a mid-epoch checkpoint. */
  onEpochBegin?(loop: TrainLoop, epoch: number, resuming: boolean): Promise<void> | void;
  /** After each batch (all of its replays). */
  onBatchEnd?(loop: TrainLoop, progress: EpochProgress): Promise<void> | void;
  /** After the epoch's last batch: may roll the epoch back (the callback restores weights and optimizer). */
  checkEpoch?(loop: TrainLoop, progress: EpochProgress): Promise<EpochVerdict> | EpochVerdict;
  /** Fields of the epoch's metrics this callback measures (validation accuracies, the guard's check). */
  measure?(loop: TrainLoop, progress: EpochProgress): Promise<Partial<EpochMetrics>> | Partial<EpochMetrics>;
  /** After the epoch's metrics are recorded. */
  onEpochEnd?(loop: TrainLoop, metrics: EpochMetrics): Promise<void> | void;
  /** State to checkpoint; `inEpoch` when the checkpoint falls within an epoch. */
  saveState?(inEpoch: boolean): CallbackState | undefined;
  /** Restores what {@link saveState} returned (the caller keeps owning the tensors). */
  loadState?(state: CallbackState): void;
  /** Frees what the callback holds (also after a failure). */
  dispose?(): void;
}
