import type { ModelMetadata } from '../model/io.js';
import type { ThreatModel } from '../threat/threat-model.js';
import { UserError } from '../errors.js';
import type { OptimizerName } from './optimizers.js';
import type { ScheduleSpec } from './schedules.js';
import type { TrainingStrategy } from './strategy.js';
import type { ProgressReporter } from './progress.js';
import type { LoadedCheckpoint } from './checkpoint.js';
import type { RobustCheckSpec } from './robust-check.js';
import type { TrainCallback } from './callbacks/callback.js';

/**
 * Settings of one training run.
 *
 * @example
 * ```ts
 * const config: TrainConfig = { epochs: 10, batchSize: 100, optimizer: 'adam', schedule: { kind: 'cyclic', lr: 5e-3, peakAt: 0.4 }, seed: 0,
 *   threat: parseThreat('linf:0.3'), strategy: makeStrategy('fgsm-rs', { eps: 0.3 }), epsWarmup: 2 };
 * await train(clf, data.train, data.test, config);
 * ```
 */
export interface TrainConfig {
  epochs: number;
  batchSize: number;
  optimizer: OptimizerName;
  schedule: ScheduleSpec;
  seed: number;
  /** Default: standard training. */
  strategy?: TrainingStrategy;
  /** The threat model adversarial strategies train against. */
  threat?: ThreatModel;
  /** Epochs over which ε grows linearly from 0 to its value. Default 0. */
  epsWarmup?: number;
  /**
   * Catastrophic-overfitting guard: after each epoch, PGD accuracy (at the epoch's ε) on one
   * fixed training minibatch. A collapse — PGD accuracy more than `drop` (default 0.2) below the
   * previous epoch's, or below `floor` (default 0.05) while the model withstands its own training
   * attack on more than `trust` (default 0.3) of the examples — rolls the weights back and asks
   * the strategy to adapt (or stops). The second test catches single-step training that never
   * became robust at all (zero-init FGSM), which a drop cannot show; it is kept strict because
   * early in legitimate FGSM-RS training PGD accuracy lags the training attack's by 40+ points.
   */
  coGuard?: RobustCheckSpec & { drop?: number; floor?: number; trust?: number; batch?: number };
  /**
   * Robust early stopping (Rice et al. 2020): PGD accuracy on the validation set after each
   * epoch; the best epoch's model is saved to `outDir/best`.
   */
  robustValidation?: RobustCheckSpec & { n?: number };
  /** Run directory: metrics.jsonl, checkpoint/ (each epoch) and best/ go here. None: keep nothing on disk. */
  outDir?: string;
  /** Metadata stored with saved models (needed with outDir). */
  metadata?: ModelMetadata;
  progress?: ProgressReporter;
  /** Continue from this checkpoint (its model must be the `clf` passed in). */
  resumeFrom?: LoadedCheckpoint;
  /**
   * Checkpoints within an epoch (with outDir): after every this many batches; 0: only at the end
   * of each epoch. Default: whenever {@link DEFAULT_CHECKPOINT_SECONDS} have passed since the last
   * checkpoint. Where checkpoints fall never changes the results.
   */
  checkpointEvery?: number;
  /** Lines about guard events (collapse, roll-back); default: stderr. */
  log?: (line: string) => void;
  /** More callbacks, run after the built-in ones (guard, validation, metrics log, checkpoints). */
  callbacks?: TrainCallback[];
}

/**
 * One line of metrics.jsonl. Losses are means over the epoch; accuracies are fractions.
 *
 * @example
 * ```ts
 * const { history } = await train(clf, data.train, data.test, config);
 * const last: EpochMetrics = history[history.length - 1];
 * console.log(last.epoch, last.loss, last.val_accuracy);
 * ```
 */
export interface EpochMetrics {
  epoch: number;
  /** The strategy's training objective. */
  loss: number;
  clean_loss: number | null;
  clean_accuracy: number | null;
  /** Adversarial training loss: cross-entropy on the adversarial inputs trained on. */
  adv_loss: number | null;
  adv_accuracy: number | null;
  val_loss: number | null;
  val_accuracy: number | null;
  robust_val_accuracy: number | null;
  co_check_accuracy: number | null;
  eps: number | null;
  lr: number;
  seconds: number;
  examples_per_s: number;
  event?: string;
}

/**
 * What {@link train} returns.
 *
 * @example
 * ```ts
 * const r: TrainResult = await train(clf, data.train, data.test, config);
 * if (r.stopped) console.log(r.stopped);
 * console.log(r.history.length, r.seconds);
 * ```
 */
export interface TrainResult {
  history: EpochMetrics[];
  /** Best epoch by robust validation accuracy (when robustValidation is on). */
  best?: { epoch: number; robust_val_accuracy: number };
  /** Why training stopped before its last epoch, if it did. */
  stopped?: string;
  /** Wall time of the epochs run in this call, seconds. */
  seconds: number;
}

/** Default spacing of in-epoch checkpoints: at most this much work is lost to a crash. */
export const DEFAULT_CHECKPOINT_SECONDS = 300;

/** Refuses settings that cannot work, before anything runs. */
export function checkConfig(c: TrainConfig): void {
  if (!Number.isInteger(c.epochs) || c.epochs < 1) throw new UserError(`--epochs must be a positive integer (got ${c.epochs})`);
  if (!Number.isInteger(c.batchSize) || c.batchSize < 1) throw new UserError(`--batch-size must be a positive integer (got ${c.batchSize})`);
  if (!Number.isInteger(c.seed)) throw new UserError(`--seed must be an integer (got ${c.seed})`);
  if (c.epsWarmup !== undefined && !(c.epsWarmup >= 0)) throw new UserError(`--eps-warmup must be ≥ 0 (got ${c.epsWarmup})`);
  if ((c.coGuard || c.robustValidation) && !c.threat) throw new UserError('the training guards need a threat model (--threat)');
  if (c.checkpointEvery !== undefined && !(Number.isInteger(c.checkpointEvery) && c.checkpointEvery >= 0)) {
    throw new UserError(`--checkpoint-every must be a whole number of batches ≥ 0 (got ${c.checkpointEvery})`);
  }
  if (c.outDir && !c.metadata) throw new Error('TrainConfig.metadata is required with outDir');
}

/** The parts of a config that define the run (what a resume must match). */
export function configSnapshot(c: TrainConfig): Record<string, unknown> {
  return {
    epochs: c.epochs,
    batchSize: c.batchSize,
    optimizer: c.optimizer,
    schedule: c.schedule,
    seed: c.seed,
    strategy: c.strategy?.name ?? 'standard',
    strategyParams: c.strategy?.params ?? {},
    threat: c.threat?.toString() ?? null,
    epsWarmup: c.epsWarmup ?? 0,
  };
}
