import * as tf from '@tensorflow/tfjs-core';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { batches, subset, toTensors } from '../data/batching.js';
import { Rng } from '../data/rng.js';
import type { LayersClassifier } from '../model/classifier.js';
import { saveModel, type ModelMetadata } from '../model/io.js';
import { evaluateClean } from '../model/accuracy.js';
import { lpThreat, type ThreatModel } from '../threat/threat-model.js';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../fsutil.js';
import { makeOptimizer, setLearningRate, type OptimizerName } from './optimizers.js';
import { makeSchedule, type ScheduleSpec } from './schedules.js';
import { standardStrategy, type BatchContext, type LogitsPart, type TrainingStrategy } from './strategy.js';
import { silentProgress, type ProgressReporter } from './progress.js';
import { saveCheckpoint, type LoadedCheckpoint } from './checkpoint.js';
import { captureOptimizerState, disposeOptimizerState, restoreOptimizerState, type OptimizerState } from './optimizer-state.js';
import { killPoint } from './kill-point.js';
import { pgdAccuracy, type RobustCheckSpec } from './robust-check.js';

/** Settings of one training run. */
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
}

/** One line of metrics.jsonl. Losses are means over the epoch; accuracies are fractions. */
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

export interface TrainResult {
  history: EpochMetrics[];
  /** Best epoch by robust validation accuracy (when robustValidation is on). */
  best?: { epoch: number; robust_val_accuracy: number };
  /** Why training stopped before its last epoch, if it did. */
  stopped?: string;
  /** Wall time of the epochs run in this call, seconds. */
  seconds: number;
}

function checkConfig(c: TrainConfig): void {
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

/** Default spacing of in-epoch checkpoints: at most this much work is lost to a crash. */
export const DEFAULT_CHECKPOINT_SECONDS = 300;

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** Running sums of one epoch's metrics. */
class EpochSums {
  loss = 0;
  seen = 0;
  clean = { loss: 0, hits: 0, n: 0 };
  adv = { loss: 0, hits: 0, n: 0 };
  add(which: 'clean' | 'adv', loss: number, hits: number, n: number): void {
    this[which].loss += loss;
    this[which].hits += hits;
    this[which].n += n;
  }
  mean(which: 'clean' | 'adv'): [number | null, number | null] {
    const s = this[which];
    return s.n ? [s.loss / s.n, s.hits / s.n] : [null, null];
  }
  toJSON(): Record<string, unknown> {
    return { loss: this.loss, seen: this.seen, clean: this.clean, adv: this.adv };
  }
  static from(j: Record<string, unknown>): EpochSums {
    return Object.assign(new EpochSums(), structuredClone(j));
  }
}

/** Summed cross-entropy, hit count and row count of some rows' logits against their labels. */
function ceAndHits(part: LogitsPart, ys: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar[] {
  const n = part.logits.shape[0];
  const from = part.from ?? 0;
  const y = tf.slice(ys, [from, 0], [n, -1]);
  const l = tf.slice(labels, [from], [n]);
  return [
    tf.losses.softmaxCrossEntropy(y, part.logits, undefined, undefined, tf.Reduction.SUM) as tf.Scalar,
    tf.sum(tf.cast(tf.equal(tf.argMax(part.logits, 1), l), 'float32')) as tf.Scalar,
    tf.scalar(n),
  ];
}

/** How far an epoch had got: what a mid-epoch checkpoint saves besides weights and optimizer. */
interface InEpoch {
  /** Batches done. */
  batch: number;
  /** Optimizer steps at the start of the epoch (a roll-back returns there). */
  stepAtStart: number;
  sums: EpochSums;
  /** Learning rate of the last step. */
  lr: number;
  /** Wall time spent in the epoch so far. */
  seconds: number;
}

/** Weights and optimizer state at the start of an epoch, for the guard's roll-back. */
interface Snapshot {
  weights: tf.Tensor[];
  optimizer: OptimizerState;
}

async function takeSnapshot(clf: LayersClassifier, opt: tf.Optimizer): Promise<Snapshot> {
  return { weights: clf.model.getWeights().map((w) => w.clone()), optimizer: await captureOptimizerState(opt) };
}

function dropSnapshot(s: Snapshot | undefined): void {
  if (s) {
    tf.dispose(s.weights);
    disposeOptimizerState(s.optimizer);
  }
}

/** A snapshot as checkpoint tensors (names `guard/…`) and the JSON needed to rebuild it. */
function snapshotToCheckpoint(s: Snapshot): { tensors: tf.NamedTensorMap; json: Record<string, unknown> } {
  const tensors: tf.NamedTensorMap = {};
  s.weights.forEach((w, i) => (tensors[`guard/w/${i}`] = w));
  s.optimizer.weights.forEach((n, i) => (tensors[`guard/opt/${i}`] = n.tensor));
  return { tensors, json: { weights: s.weights.length, optimizer: { className: s.optimizer.className, names: s.optimizer.weights.map((n) => n.name), accBeta: s.optimizer.accBeta } } };
}

function snapshotFromCheckpoint(json: { weights: number; optimizer: { className: string; names: string[]; accBeta?: [number, number] } }, t: tf.NamedTensorMap): Snapshot {
  return {
    weights: Array.from({ length: json.weights }, (_, i) => t[`guard/w/${i}`]!.clone()),
    optimizer: {
      className: json.optimizer.className,
      weights: json.optimizer.names.map((name, i) => ({ name, tensor: t[`guard/opt/${i}`]!.clone() })),
      ...(json.optimizer.accBeta ? { accBeta: json.optimizer.accBeta } : {}),
    },
  };
}

/**
 * The one training loop. A strategy decides each batch's loss; the loop owns the optimizer,
 * the learning-rate schedule, ε warm-up, validation, the guards against catastrophic and robust
 * overfitting, the metrics log and the checkpoint of every epoch. The shuffle of epoch e
 * depends only on (seed, e), so a resumed run sees the same batches as an uninterrupted one.
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
  const log = config.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const lrAt = makeSchedule(config.schedule, config.epochs);
  const optimizer = makeOptimizer(config.optimizer, config.schedule.lr);
  const vars = clf.model.trainableWeights.map((w) => w.read() as tf.Variable);
  const replays = strategy.replays ?? 1;
  const history: EpochMetrics[] = [];
  let startEpoch = 0;
  let step = 0;
  let best: TrainResult['best'];
  let prevCo: number | undefined;
  let prevCoEps: number | undefined;
  let snapshot: Snapshot | undefined;
  let event: string | undefined;
  /** Where a mid-epoch checkpoint left the epoch it resumes. */
  let resumeIn: InEpoch | undefined;
  if (config.resumeFrom) {
    const ck = config.resumeFrom;
    await ck.restoreOptimizer(optimizer);
    startEpoch = ck.state.epoch;
    step = ck.state.step;
    history.push(...(ck.state.history as unknown as EpochMetrics[]));
    const extra = ck.state.extra ?? {};
    best = extra.best as TrainResult['best'];
    prevCo = extra.prevCo as number | undefined;
    prevCoEps = extra.prevCoEps as number | undefined;
    event = extra.event as string | undefined;
    if (extra.strategy && strategy.loadState) {
      const prefix = 'strategy/';
      const tensors: tf.NamedTensorMap = {};
      for (const [k, t] of Object.entries(ck.tensors)) if (k.startsWith(prefix)) tensors[k.slice(prefix.length)] = t;
      strategy.loadState({ json: extra.strategy as Record<string, unknown>, tensors });
    }
    if (extra.guardSnapshot) snapshot = snapshotFromCheckpoint(extra.guardSnapshot as Parameters<typeof snapshotFromCheckpoint>[0], ck.tensors);
    if ((ck.state.batch ?? 0) > 0) {
      const e = extra.epochInProgress as { stepAtStart: number; sums: Record<string, unknown>; lr: number; seconds: number };
      resumeIn = { batch: ck.state.batch!, stepAtStart: e.stepAtStart, sums: EpochSums.from(e.sums), lr: e.lr, seconds: e.seconds };
    }
    tf.dispose(Object.values(ck.tensors));
  }
  // The run directory is made by the first write (metrics or checkpoint), so a run that fails
  // before it leaves nothing behind. On resume the log may hold an epoch whose checkpoint was
  // never written: the checkpoint is the truth.
  if (config.outDir && config.resumeFrom) writeFileAtomic(join(config.outDir, 'metrics.jsonl'), history.map((h) => JSON.stringify(h) + '\n').join(''));
  const epsAt = (t: number): ThreatModel | undefined => {
    const th = config.threat;
    if (!th) return undefined;
    const w = config.epsWarmup ?? 0;
    return w > 0 && t < w ? lpThreat(th.norm, th.norm === 'l0' ? Math.floor((th.eps * t) / w) : (th.eps * t) / w) : th;
  };
  const coBatch = config.coGuard ? subset(trainSet, Math.min(config.coGuard.batch ?? 256, trainSet.n)) : undefined;
  const robustVal = config.robustValidation && valSet ? subset(valSet, Math.min(config.robustValidation.n ?? valSet.n, valSet.n)) : undefined;
  const stepsPerEpoch = Math.ceil(trainSet.n / config.batchSize);
  const t0 = performance.now();
  let lastCheckpoint = performance.now();
  let stopped: string | undefined;
  /** Saves a checkpoint: at an epoch boundary (`inEpoch` absent) or after `inEpoch.batch` batches of epoch `epoch`. */
  const checkpoint = async (epoch: number, inEpoch?: InEpoch) => {
    const tensors: tf.NamedTensorMap = {};
    const extra: Record<string, unknown> = { best, prevCo, prevCoEps, ...(event ? { event } : {}) };
    const st = strategy.saveState?.();
    if (st) {
      extra.strategy = st.json ?? {};
      for (const [k, t] of Object.entries(st.tensors ?? {})) tensors[`strategy/${k}`] = t;
    }
    if (inEpoch) {
      extra.epochInProgress = { stepAtStart: inEpoch.stepAtStart, sums: inEpoch.sums.toJSON(), lr: inEpoch.lr, seconds: inEpoch.seconds };
      if (snapshot) {
        const s = snapshotToCheckpoint(snapshot);
        extra.guardSnapshot = s.json;
        Object.assign(tensors, s.tensors);
      }
    }
    await saveCheckpoint(
      config.outDir!,
      clf.model,
      optimizer,
      { epoch, batch: inEpoch?.batch ?? 0, step, config: configSnapshot(config), history: history as unknown as Record<string, unknown>[], extra },
      config.metadata!,
      tensors,
    );
    lastCheckpoint = performance.now();
  };
  const dueInEpoch = (k: number) => {
    if (!config.outDir || k >= stepsPerEpoch) return false;
    const every = config.checkpointEvery;
    if (every === undefined) return performance.now() - lastCheckpoint >= DEFAULT_CHECKPOINT_SECONDS * 1000;
    return every > 0 && k % every === 0;
  };
  try {
    for (let epoch = startEpoch; epoch < config.epochs; epoch++) {
      const resuming = resumeIn;
      resumeIn = undefined;
      if (config.coGuard && !resuming) {
        dropSnapshot(snapshot);
        snapshot = await takeSnapshot(clf, optimizer);
      }
      const stepAtStart = resuming?.stepAtStart ?? step;
      const te = performance.now() - (resuming?.seconds ?? 0) * 1000;
      const rng = new Rng(config.seed * 100_003 + epoch);
      const sums = resuming?.sums ?? new EpochSums();
      let lr = resuming?.lr ?? 0;
      progress.startEpoch(epoch, config.epochs, stepsPerEpoch);
      let k = 0;
      const skip = resuming?.batch ?? 0;
      for (const batch of batches(trainSet, config.batchSize, { shuffle: rng })) {
        if (k < skip) {
          k++;
          continue;
        }
        const t = epoch + k / stepsPerEpoch;
        lr = lrAt(t);
        setLearningRate(optimizer, lr);
        const { xs, ys } = toTensors(batch, trainSet.shape, trainSet.numClasses);
        const labels = tf.tensor1d(batch.y, 'int32');
        for (let rep = 0; rep < replays; rep++) {
          const ctx: BatchContext = { xs, ys, labels, epoch: t, seed: (config.seed * 7919 + step * 31 + rep) >>> 0, threat: epsAt(t) };
          const prepared = strategy.prepare?.(clf, ctx);
          const extra = strategy.extraVariables?.(ctx) ?? [];
          let parts: { clean?: tf.Scalar[]; adv?: tf.Scalar[] } = {};
          const value = tf.tidy(() => {
            const { value, grads } = tf.variableGrads(() => {
              const out = strategy.loss(clf, ctx, prepared);
              parts = {
                clean: out.clean ? ceAndHits(out.clean, ys, labels).map((t) => tf.keep(t)) : undefined,
                adv: out.adv ? ceAndHits(out.adv, ys, labels).map((t) => tf.keep(t)) : undefined,
              };
              return out.loss;
            }, [...vars, ...extra]);
            const weightGrads: tf.NamedTensorMap = {};
            const extraGrads: tf.NamedTensorMap = {};
            for (const v of vars) weightGrads[v.name] = grads[v.name]!;
            for (const v of extra) extraGrads[v.name] = grads[v.name]!;
            optimizer.applyGradients(weightGrads);
            strategy.afterStep?.(extraGrads, ctx);
            return value;
          });
          prepared?.dispose();
          sums.loss += value.dataSync()[0]! * batch.size;
          sums.seen += batch.size;
          for (const which of ['clean', 'adv'] as const) {
            const p = parts[which];
            if (p) sums.add(which, p[0]!.dataSync()[0]!, p[1]!.dataSync()[0]!, p[2]!.dataSync()[0]!);
          }
          tf.dispose([value, ...(parts.clean ?? []), ...(parts.adv ?? [])]);
          step++;
          killPoint('step');
        }
        tf.dispose([xs, ys, labels]);
        k++;
        const elapsed = (performance.now() - te) / 1000;
        const accuracy = sums.mean('adv')[1] ?? sums.mean('clean')[1] ?? 0;
        progress.step(k, { loss: sums.loss / sums.seen, accuracy, examplesPerSecond: sums.seen / replays / elapsed });
        if (dueInEpoch(k)) await checkpoint(epoch, { batch: k, stepAtStart, sums, lr, seconds: (performance.now() - te) / 1000 });
      }
      const trainSeconds = (performance.now() - te) / 1000;
      let coAcc: number | null = null;
      const checkThreat = epsAt(epoch + 1 - 1e-9);
      if (config.coGuard && coBatch && checkThreat) {
        coAcc = await pgdAccuracy(clf, coBatch, checkThreat, config.coGuard, config.seed + epoch);
        const trainAdvAcc = sums.mean('adv')[1];
        // Accuracies at different ε (during warm-up) are not comparable: only a drop at the same ε counts.
        const fell = prevCo !== undefined && prevCoEps === checkThreat.eps && coAcc < prevCo - (config.coGuard.drop ?? 0.2);
        const gap = trainAdvAcc !== null && coAcc < (config.coGuard.floor ?? 0.05) && trainAdvAcc > (config.coGuard.trust ?? 0.3);
        if (fell || gap) {
          const why = fell
            ? `PGD accuracy on a training batch fell from ${pct(prevCo!)} to ${pct(coAcc)}`
            : `PGD accuracy on a training batch is ${pct(coAcc)} while the training attack's accuracy is ${pct(trainAdvAcc!)}`;
          const what = `catastrophic overfitting in epoch ${epoch + 1} (${why}); weights rolled back to the end of epoch ${epoch}`;
          clf.model.setWeights(snapshot!.weights);
          await restoreOptimizerState(optimizer, snapshot!.optimizer);
          step = stepAtStart;
          const change = strategy.onCollapse?.();
          // The full line goes to the log once; the progress display only closes the epoch.
          if (change === undefined) {
            stopped = `${what}; training stopped`;
            progress.endEpoch(`epoch ${epoch + 1}/${config.epochs}: rolled back, training stopped`);
            log(stopped);
            break;
          }
          event = `${what}; ${change}; epoch retried`;
          progress.endEpoch(`epoch ${epoch + 1}/${config.epochs}: rolled back, retried`);
          log(event);
          epoch--;
          continue;
        }
        prevCo = coAcc;
        prevCoEps = checkThreat.eps;
      }
      const val = valSet ? evaluateClean(clf, valSet) : undefined;
      const robustAcc = robustVal && config.threat ? await pgdAccuracy(clf, robustVal, config.threat, config.robustValidation!, config.seed + 7 * epoch) : null;
      const [cleanLoss, cleanAcc] = sums.mean('clean');
      const [advLoss, advAcc] = sums.mean('adv');
      const metrics: EpochMetrics = {
        epoch: epoch + 1,
        loss: sums.loss / sums.seen,
        clean_loss: cleanLoss,
        clean_accuracy: cleanAcc,
        adv_loss: advLoss,
        adv_accuracy: advAcc,
        val_loss: val ? val.loss : null,
        val_accuracy: val ? val.accuracy : null,
        robust_val_accuracy: robustAcc,
        co_check_accuracy: coAcc,
        eps: epsAt(epoch + 1 - 1e-9)?.eps ?? null,
        lr,
        seconds: (performance.now() - te) / 1000,
        examples_per_s: sums.seen / replays / trainSeconds,
        ...(event ? { event } : {}),
      };
      event = undefined;
      history.push(metrics);
      progress.endEpoch(summaryLine(metrics, config.epochs));
      const improved = robustAcc !== null && (!best || robustAcc > best.robust_val_accuracy);
      if (improved) best = { epoch: epoch + 1, robust_val_accuracy: robustAcc! };
      if (config.outDir) {
        mkdirSync(config.outDir, { recursive: true });
        appendFileSync(join(config.outDir, 'metrics.jsonl'), JSON.stringify(metrics) + '\n');
        if (improved) await saveModel(join(config.outDir, 'best'), clf.model, config.metadata!);
        await checkpoint(epoch + 1);
        killPoint('epoch');
      }
    }
  } finally {
    dropSnapshot(snapshot);
    optimizer.dispose();
    strategy.dispose?.();
  }
  return { history, best, stopped, seconds: (performance.now() - t0) / 1000 };
}

function summaryLine(m: EpochMetrics, epochs: number): string {
  const f = (x: number | null, pct = true) => (x === null ? '-' : pct ? `${(x * 100).toFixed(2)}%` : x.toFixed(4));
  const parts = [`epoch ${m.epoch}/${epochs}: loss ${f(m.loss, false)}`];
  if (m.clean_accuracy !== null) parts.push(`clean ${f(m.clean_accuracy)}`);
  if (m.adv_accuracy !== null) parts.push(`adv loss ${f(m.adv_loss, false)} acc ${f(m.adv_accuracy)}`);
  if (m.val_accuracy !== null) parts.push(`val ${f(m.val_accuracy)}`);
  if (m.robust_val_accuracy !== null) parts.push(`robust val ${f(m.robust_val_accuracy)}`);
  if (m.co_check_accuracy !== null) parts.push(`CO check ${f(m.co_check_accuracy)}`);
  if (m.eps !== null) parts.push(`ε ${m.eps.toFixed(3)}`);
  parts.push(`${m.seconds.toFixed(1)} s, ${m.examples_per_s.toFixed(0)} ex/s`);
  return parts.join(' | ');
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
