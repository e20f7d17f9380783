import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/dataset.js';
import { batches, toTensors } from '../data/batching.js';
import { deriveSeed, Rng } from '../data/rng.js';
import type { LayersClassifier } from '../model/classifier.js';
import { makeOptimizer, setLearningRate } from './optimizers.js';
import { makeSchedule } from './schedules.js';
import { standardStrategy, type BatchContext, type LogitsPart, type TrainingStrategy } from './strategy.js';
import { silentProgress } from './progress.js';
import { killPoint } from './kill-point.js';
import { EpochSums } from './epoch-sums.js';
import { checkConfig, type EpochMetrics, type TrainConfig, type TrainResult } from './train-config.js';
import type { EpochProgress, TrainCallback, TrainLoop } from './callbacks/callback.js';
import type { CheckpointExtra } from './callbacks/checkpointing.js';
import type { LoadedCheckpoint } from './checkpoint.js';
import { epsWarmup } from './callbacks/eps-warmup.js';
import { coGuard } from './callbacks/co-guard.js';
import { validation } from './callbacks/validation.js';
import { robustValidation, type RobustValidation } from './callbacks/robust-validation.js';
import { metricsLog } from './callbacks/metrics-log.js';
import { checkpointing } from './callbacks/checkpointing.js';
import { softmaxCrossEntropy } from '../engine/cross-entropy.js';

export { checkConfig, configSnapshot, DEFAULT_CHECKPOINT_SECONDS, type EpochMetrics, type TrainConfig, type TrainResult } from './train-config.js';

/** Summed cross-entropy, hit count and row count of some rows' logits against their labels. */
function ceAndHits(part: LogitsPart, ys: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar[] {
  const n = part.logits.shape[0];
  const from = part.from ?? 0;
  const y = tf.slice(ys, [from, 0], [n, -1]);
  const l = tf.slice(labels, [from], [n]);
  return [
    softmaxCrossEntropy(part.logits, y, 'sum'),
    tf.sum(tf.cast(tf.equal(tf.argMax(part.logits, 1), l), 'float32')) as tf.Scalar,
    tf.scalar(n),
  ];
}

/** The built-in callbacks a config asks for, in the order they run; checkpoints last, so they hold every other callback's state. */
function builtInCallbacks(config: TrainConfig, trainSet: Dataset, valSet: Dataset | undefined): { callbacks: TrainCallback[]; robust?: RobustValidation } {
  const cbs: TrainCallback[] = [];
  if (config.coGuard) cbs.push(coGuard(config.coGuard, trainSet));
  if (valSet) cbs.push(validation(valSet));
  const robust = config.robustValidation && valSet && config.threat ? robustValidation(config.robustValidation, valSet, config.threat, config.outDir, config.metadata) : undefined;
  if (robust) cbs.push(robust);
  if (config.outDir) cbs.push(metricsLog(config.outDir));
  cbs.push(...(config.callbacks ?? []));
  if (config.outDir) cbs.push(checkpointing(config.outDir, config.metadata!, config.checkpointEvery, [...cbs]));
  return { callbacks: cbs, robust };
}

/** The state tensors of `name` in a checkpoint's tensors (`name/…`), without the prefix. */
function tensorsOf(all: tf.NamedTensorMap, name: string): tf.NamedTensorMap {
  const out: tf.NamedTensorMap = {};
  for (const [k, t] of Object.entries(all)) if (k.startsWith(name + '/')) out[k.slice(name.length + 1)] = t;
  return out;
}

/**
 * The one training loop. A strategy decides each batch's loss; the loop owns the optimizer, the
 * learning-rate schedule and the order of batches, and calls its callbacks (src/training/callbacks/)
 * for everything else: the catastrophic-overfitting guard, validation, robust validation with the
 * best model, the metrics log and checkpoints, and any `config.callbacks`. The shuffle of epoch e
 * depends only on (seed, e), and a checkpoint holds every other piece of state a step depends on,
 * so a resumed run takes exactly the steps of an uninterrupted one.
 *
 * @example
 * ```ts
 * const clf = fromLayersModel(buildZooModel('mnist-small', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 }), { domain: { lower: 0, upper: 1 } });
 * const { history } = await train(clf, data.train, data.test, {
 *   epochs: 2, batchSize: 64, optimizer: 'adam', schedule: { kind: 'constant', lr: 1e-3 }, seed: 0,
 * });
 * ```
 */
export async function train(clf: LayersClassifier, trainSet: Dataset, valSet: Dataset | undefined, config: TrainConfig): Promise<TrainResult> {
  checkConfig(config);
  const strategy: TrainingStrategy = config.strategy ?? standardStrategy;
  const progress = config.progress ?? silentProgress;
  const lrAt = makeSchedule(config.schedule, config.epochs);
  const optimizer = makeOptimizer(config.optimizer, config.schedule.lr);
  const vars = clf.model.trainableWeights.map((w) => w.read() as tf.Variable);
  const replays = strategy.replays ?? 1;
  const stepsPerEpoch = Math.ceil(trainSet.n / config.batchSize);
  const { callbacks, robust } = builtInCallbacks(config, trainSet, valSet);
  const history: EpochMetrics[] = [];
  let step = 0;
  const loop: TrainLoop = {
    clf,
    optimizer,
    config,
    strategy,
    trainSet,
    valSet,
    stepsPerEpoch,
    get step() {
      return step;
    },
    history,
    threatAt: epsWarmup(config.threat, config.epsWarmup),
    log: config.log ?? ((l: string) => process.stderr.write(l + '\n')),
  };
  const t0 = performance.now();
  let stopped: string | undefined;
  try {
    const ck = config.resumeFrom;
    const resumed = ck ? await resumeRun(ck, optimizer, strategy, callbacks) : undefined;
    if (resumed) {
      step = resumed.step;
      history.push(...resumed.history);
    }
    const startEpoch = resumed?.epoch ?? 0;
    /** Where a mid-epoch checkpoint left the epoch it resumes. */
    let resumeIn = resumed?.inEpoch;
    for (const cb of callbacks) await cb.onTrainBegin?.(loop, ck !== undefined);
    for (let epoch = startEpoch; epoch < config.epochs; epoch++) {
      const resuming = resumeIn;
      resumeIn = undefined;
      for (const cb of callbacks) await cb.onEpochBegin?.(loop, epoch, resuming !== undefined);
      const te = performance.now() - (resuming?.seconds ?? 0) * 1000;
      const p: EpochProgress = resuming ?? { epoch, batch: 0, stepAtStart: step, sums: new EpochSums(), lr: 0, seconds: 0 };
      const { sums } = p;
      const rng = new Rng(deriveSeed(config.seed, 'batch-order', epoch));
      progress.startEpoch(epoch, config.epochs, stepsPerEpoch);
      let k = 0;
      for (const batch of batches(trainSet, config.batchSize, { shuffle: rng })) {
        if (k < p.batch) {
          k++; // done before the checkpoint this run resumed from
          continue;
        }
        const t = epoch + k / stepsPerEpoch;
        p.lr = lrAt(t);
        setLearningRate(optimizer, p.lr);
        const { xs, ys } = toTensors(batch, trainSet.shape, trainSet.numClasses);
        const labels = tf.tensor1d(batch.y, 'int32');
        for (let rep = 0; rep < replays; rep++) {
          const ctx: BatchContext = { xs, ys, labels, epoch: t, seed: deriveSeed(config.seed, 'step', step, rep), threat: loop.threatAt(t) };
          trainStep(clf, optimizer, vars, strategy, ctx, sums);
          step++;
          killPoint('step');
        }
        tf.dispose([xs, ys, labels]);
        p.batch = ++k;
        p.seconds = (performance.now() - te) / 1000;
        const accuracy = sums.mean('adv')[1] ?? sums.mean('clean')[1] ?? 0;
        progress.step(k, { loss: sums.loss / sums.seen, accuracy, examplesPerSecond: sums.seen / replays / p.seconds });
        for (const cb of callbacks) await cb.onBatchEnd?.(loop, p);
      }
      const trainSeconds = (performance.now() - te) / 1000;
      let verdict: { kind: 'retry' | 'stop'; line: string } | undefined;
      for (const cb of callbacks) {
        const v = await cb.checkEpoch?.(loop, p);
        if (v && v.kind !== 'keep') {
          verdict = v;
          break;
        }
      }
      if (verdict) {
        step = p.stepAtStart;
        // The full line goes to the log once; the progress display only closes the epoch.
        progress.endEpoch(`epoch ${epoch + 1}/${config.epochs}: rolled back, ${verdict.kind === 'stop' ? 'training stopped' : 'retried'}`);
        loop.log(verdict.line);
        if (verdict.kind === 'stop') {
          stopped = verdict.line;
          break;
        }
        epoch--;
        continue;
      }
      const measured: Partial<EpochMetrics> = {};
      for (const cb of callbacks) Object.assign(measured, await cb.measure?.(loop, p));
      const metrics = epochMetrics(epoch, sums, measured, loop.threatAt(epoch + 1 - 1e-9)?.eps ?? null, p.lr, (performance.now() - te) / 1000, sums.seen / replays / trainSeconds);
      history.push(metrics);
      progress.endEpoch(summaryLine(metrics, config.epochs));
      for (const cb of callbacks) await cb.onEpochEnd?.(loop, metrics);
    }
  } finally {
    for (const cb of callbacks) cb.dispose?.();
    optimizer.dispose();
    strategy.dispose?.();
  }
  return { history, best: robust?.best(), stopped, seconds: (performance.now() - t0) / 1000 };
}

/** Restores a run from its checkpoint: the optimizer, the strategy's and callbacks' state, and where it stopped. */
async function resumeRun(
  ck: LoadedCheckpoint,
  optimizer: tf.Optimizer,
  strategy: TrainingStrategy,
  callbacks: readonly TrainCallback[],
): Promise<{ epoch: number; step: number; history: EpochMetrics[]; inEpoch?: EpochProgress }> {
  await ck.restoreOptimizer(optimizer);
  const extra = (ck.state.extra ?? { callbacks: {} }) as unknown as CheckpointExtra;
  for (const cb of callbacks) {
    const json = extra.callbacks?.[cb.name];
    if (json && cb.loadState) cb.loadState({ json, tensors: tensorsOf(ck.tensors, cb.name) });
  }
  if (extra.strategy && strategy.loadState) strategy.loadState({ json: extra.strategy, tensors: tensorsOf(ck.tensors, 'strategy') });
  tf.dispose(Object.values(ck.tensors));
  const e = extra.epochInProgress;
  const epoch = ck.state.epoch;
  const batch = ck.state.batch ?? 0;
  const inEpoch = batch > 0 && e ? { epoch, batch, stepAtStart: e.stepAtStart, sums: EpochSums.from(e.sums), lr: e.lr, seconds: e.seconds } : undefined;
  return { epoch, step: ck.state.step, history: ck.state.history as unknown as EpochMetrics[], inEpoch };
}

/** One optimizer step on a batch (one replay); adds its loss, and its clean and adversarial hits, to `sums`. */
function trainStep(clf: LayersClassifier, optimizer: tf.Optimizer, vars: tf.Variable[], strategy: TrainingStrategy, ctx: BatchContext, sums: EpochSums): void {
  const { ys, labels } = ctx;
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
  const size = ctx.xs.shape[0]!;
  sums.loss += value.dataSync()[0]! * size;
  sums.seen += size;
  for (const which of ['clean', 'adv'] as const) {
    const part = parts[which];
    if (part) sums.add(which, part[0]!.dataSync()[0]!, part[1]!.dataSync()[0]!, part[2]!.dataSync()[0]!);
  }
  tf.dispose([value, ...(parts.clean ?? []), ...(parts.adv ?? [])]);
}

/** The metrics.jsonl line of an epoch, its fields in their fixed order. */
function epochMetrics(epoch: number, sums: EpochSums, measured: Partial<EpochMetrics>, eps: number | null, lr: number, seconds: number, examplesPerSecond: number): EpochMetrics {
  const [cleanLoss, cleanAcc] = sums.mean('clean');
  const [advLoss, advAcc] = sums.mean('adv');
  return {
    epoch: epoch + 1,
    loss: sums.loss / sums.seen,
    clean_loss: cleanLoss,
    clean_accuracy: cleanAcc,
    adv_loss: advLoss,
    adv_accuracy: advAcc,
    val_loss: measured.val_loss ?? null,
    val_accuracy: measured.val_accuracy ?? null,
    robust_val_accuracy: measured.robust_val_accuracy ?? null,
    co_check_accuracy: measured.co_check_accuracy ?? null,
    eps,
    lr,
    seconds,
    examples_per_s: examplesPerSecond,
    ...(measured.event ? { event: measured.event } : {}),
  };
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
