import * as tf from '@tensorflow/tfjs-core';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { batches, toTensors } from '../data/batching.js';
import { Rng } from '../data/rng.js';
import type { LayersClassifier } from '../model/classifier.js';
import type { ModelMetadata } from '../model/io.js';
import { evaluateClean } from '../eval/clean.js';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../fsutil.js';
import { makeOptimizer, setLearningRate, type OptimizerName } from './optimizers.js';
import { makeSchedule, type ScheduleSpec } from './schedules.js';
import { standardStrategy, type TrainingStrategy } from './strategy.js';
import { silentProgress, type ProgressReporter } from './progress.js';
import { saveCheckpoint, type LoadedCheckpoint } from './checkpoint.js';

/** Settings of one training run. */
export interface TrainConfig {
  epochs: number;
  batchSize: number;
  optimizer: OptimizerName;
  schedule: ScheduleSpec;
  seed: number;
  /** Default: standard training. */
  strategy?: TrainingStrategy;
  /** Run directory: metrics.jsonl and the checkpoint go here each epoch. None: keep nothing on disk. */
  outDir?: string;
  /** Metadata stored with checkpoints (needed with outDir). */
  metadata?: ModelMetadata;
  progress?: ProgressReporter;
  /** Continue from this checkpoint (its model must be the `clf` passed in). */
  resumeFrom?: LoadedCheckpoint;
}

/** One line of metrics.jsonl. */
export interface EpochMetrics {
  epoch: number;
  train_loss: number;
  train_accuracy: number;
  val_loss: number | null;
  val_accuracy: number | null;
  lr: number;
  seconds: number;
  examples_per_s: number;
  [key: string]: number | null | string;
}

export interface TrainResult {
  history: EpochMetrics[];
  /** Total wall time of the epochs run in this call, seconds. */
  seconds: number;
}

function checkConfig(c: TrainConfig): void {
  if (!Number.isInteger(c.epochs) || c.epochs < 1) throw new UserError(`--epochs must be a positive integer (got ${c.epochs})`);
  if (!Number.isInteger(c.batchSize) || c.batchSize < 1) throw new UserError(`--batch-size must be a positive integer (got ${c.batchSize})`);
  if (!Number.isInteger(c.seed)) throw new UserError(`--seed must be an integer (got ${c.seed})`);
  if (c.outDir && !c.metadata) throw new Error('TrainConfig.metadata is required with outDir');
}

/**
 * The one training loop. A strategy decides each batch's loss; the loop owns the optimizer,
 * the learning-rate schedule, validation, the metrics log and the checkpoint of every epoch.
 * The shuffle of epoch e depends only on (seed, e), so a resumed run sees the same batches.
 *
 * @example
 * ```ts
 * const clf = fromLayersModel(buildZooModel('mnist-small', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 }), { domain: UNIT_BOX });
 * const { history } = await train(clf, data.train, data.test, {
 *   epochs: 2, batchSize: 64, optimizer: 'adam', schedule: { kind: 'constant', lr: 1e-3 }, seed: 0,
 * });
 * ```
 */
export async function train(clf: LayersClassifier, trainSet: Dataset, valSet: Dataset | undefined, config: TrainConfig): Promise<TrainResult> {
  checkConfig(config);
  const strategy = config.strategy ?? standardStrategy;
  const progress = config.progress ?? silentProgress;
  const lrAt = makeSchedule(config.schedule, config.epochs);
  const optimizer = makeOptimizer(config.optimizer, config.schedule.lr);
  const vars = clf.model.trainableWeights.map((w) => w.read() as tf.Variable);
  const history: EpochMetrics[] = [];
  let startEpoch = 0;
  let step = 0;
  if (config.resumeFrom) {
    await config.resumeFrom.restoreOptimizer(optimizer);
    startEpoch = config.resumeFrom.state.epoch;
    step = config.resumeFrom.state.step;
    history.push(...(config.resumeFrom.state.history as EpochMetrics[]));
  }
  if (config.outDir) {
    mkdirSync(config.outDir, { recursive: true });
    // The log may hold an epoch whose checkpoint was never written: the checkpoint is the truth.
    if (config.resumeFrom) writeFileAtomic(join(config.outDir, 'metrics.jsonl'), history.map((h) => JSON.stringify(h) + '\n').join(''));
  }
  const stepsPerEpoch = Math.ceil(trainSet.n / config.batchSize);
  const t0 = performance.now();
  try {
    for (let epoch = startEpoch; epoch < config.epochs; epoch++) {
      const te = performance.now();
      const rng = new Rng(config.seed * 100_003 + epoch);
      let lossSum = 0;
      let hits = 0;
      let seen = 0;
      let lr = 0;
      progress.startEpoch(epoch, config.epochs, stepsPerEpoch);
      let k = 0;
      for (const batch of batches(trainSet, config.batchSize, { shuffle: rng })) {
        lr = lrAt(epoch + k / stepsPerEpoch);
        setLearningRate(optimizer, lr);
        const [lossT, hitsT] = tf.tidy(() => {
          const { xs, ys } = toTensors(batch, trainSet.shape, trainSet.numClasses);
          const labels = tf.tensor1d(batch.y, 'int32');
          const ctx = { xs, ys, labels, epoch: epoch + k / stepsPerEpoch, seed: (config.seed * 7919 + step) >>> 0 };
          const prepared = strategy.prepare?.(clf, ctx);
          let hitCount: tf.Scalar | undefined;
          const { value, grads } = tf.variableGrads(() => {
            const { loss, logits } = strategy.loss(clf, ctx, prepared);
            hitCount = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'float32')) as tf.Scalar);
            return loss;
          }, vars);
          optimizer.applyGradients(grads);
          return [value, hitCount!];
        });
        lossSum += lossT.dataSync()[0]! * batch.size;
        hits += hitsT.dataSync()[0]!;
        tf.dispose([lossT, hitsT]);
        seen += batch.size;
        step++;
        k++;
        const elapsed = (performance.now() - te) / 1000;
        progress.step(k, { loss: lossSum / seen, accuracy: hits / seen, examplesPerSecond: seen / elapsed });
      }
      const trainSeconds = (performance.now() - te) / 1000;
      const val = valSet ? evaluateClean(clf, valSet) : undefined;
      const metrics: EpochMetrics = {
        epoch: epoch + 1,
        train_loss: lossSum / seen,
        train_accuracy: hits / seen,
        val_loss: val ? val.loss : null,
        val_accuracy: val ? val.accuracy : null,
        lr,
        seconds: (performance.now() - te) / 1000,
        examples_per_s: seen / trainSeconds,
      };
      history.push(metrics);
      progress.endEpoch(
        `epoch ${epoch + 1}/${config.epochs}: loss ${metrics.train_loss.toFixed(4)} acc ${metrics.train_accuracy.toFixed(4)}` +
          (val ? ` | val loss ${val.loss.toFixed(4)} acc ${val.accuracy.toFixed(4)}` : '') +
          ` | ${metrics.seconds.toFixed(1)} s, ${metrics.examples_per_s.toFixed(0)} ex/s`,
      );
      if (config.outDir) {
        appendFileSync(join(config.outDir, 'metrics.jsonl'), JSON.stringify(metrics) + '\n');
        await saveCheckpoint(
          config.outDir,
          clf.model,
          optimizer,
          { epoch: epoch + 1, step, config: configSnapshot(config), history },
          config.metadata!,
        );
      }
    }
  } finally {
    optimizer.dispose();
  }
  return { history, seconds: (performance.now() - t0) / 1000 };
}

/** The parts of a config that define the run (what a resume must match). */
export function configSnapshot(c: TrainConfig): Record<string, unknown> {
  return { epochs: c.epochs, batchSize: c.batchSize, optimizer: c.optimizer, schedule: c.schedule, seed: c.seed, strategy: c.strategy?.name ?? 'standard' };
}
