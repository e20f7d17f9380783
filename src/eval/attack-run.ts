import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../model/classifier.js';
import type { Dataset } from '../data/dataset.js';
import { batches, toTensors } from '../data/batching.js';
import { deriveSeed, Rng } from '../data/rng.js';
import { infeasibility, isBox, type Domain } from '../data/domain.js';
import { summarize, type Summary } from './stats.js';
import type { Attack } from '../attacks/attack.js';
import { requireThreat } from '../attacks/support.js';
import type { AnyThreat } from '../threat/threat.js';

/**
 * Options of {@link runAttack}.
 *
 * @example
 * ```ts
 * const opts: AttackRunOptions = { threat: parseThreat('linf:0.3'), batchSize: 100, seed: 0 };
 * const r = await runAttack(clf, subset(test, 500), new Pgd(), opts);
 * ```
 */
export interface AttackRunOptions {
  /** Any threat; each adversarial input is verified with its `check` (a norm ball re-measures distances, a spatial box checks the attack's transform sizes). */
  threat: AnyThreat;
  batchSize?: number;
  seed?: number;
  /** Targeted attack towards a random other class per example (seeded). */
  targeted?: boolean;
  /** Called after each batch with (examples done, total). */
  onProgress?: (done: number, total: number) => void;
  /** Keep this many examples (clean, adversarial, predictions) for galleries. Default 0. */
  keepExamples?: number;
  /** Receives each attacked example's adversarial input, at row = its index in `ds` (size ds.n × example size). */
  advOut?: Float32Array;
  /**
   * Attack exactly the examples marked 1 (data-set order, length ds.n), whatever the model
   * predicts on them. Default: the examples the model classifies correctly. Transfer attacks use
   * it to craft on a surrogate for the examples the target gets right.
   */
  attackMask?: Uint8Array;
  /**
   * The global index of each row of `ds` (default 0..n−1), e.g. its row in the full data set
   * when `ds` is a part of it: per-example randomness (random starts, random targets) derives
   * from (seed, global index), so results do not depend on batch size or on how the examples
   * are split.
   */
  exampleIndices?: ArrayLike<number>;
  /**
   * The feasible set every adversarial record is validated against (default: the classifier's
   * domain). An unconstrained attack on tabular data attacks a box-only view of the model and
   * has its records validated against the data set's full domain here.
   */
  validate?: Domain;
}

/** Summary statistics of a list of numbers. */
export interface Stats {
  median: number | null;
  mean: number | null;
  max: number | null;
}

/** One kept example, for galleries. */
export interface KeptExample {
  index: number;
  label: number;
  x: Float32Array;
  xAdv: Float32Array;
  predClean: number;
  predAdv: number;
  confClean: number;
  confAdv: number;
}

/**
 * What an attack did to a data set. Accuracies and rates are fractions.
 *
 * @example
 * ```ts
 * const r: AttackRunResult = await runAttack(clf, subset(test, 500), new Pgd(), { threat: parseThreat('linf:0.3') });
 * console.log(r.clean_accuracy, r.robust_accuracy, r.success_rate);
 * ```
 */
export interface AttackRunResult {
  n: number;
  clean_accuracy: number;
  /** Fraction of all n examples classified correctly after the attack (clean errors count as not robust). */
  robust_accuracy: number;
  /**
   * Fraction of the attacked examples misclassified after the attack (without `attackMask`: the
   * share of the clean-correct examples the attack broke).
   */
  success_rate: number;
  /** Number of examples attacked (without `attackMask`: the clean-correct ones). */
  attacked: number;
  /** Distance (threat norm) of the successful adversarial examples. */
  distance: Stats;
  /** Queries per attacked example. */
  queries: Summary;
  time_s: number;
  /** Per example, in data-set order: 1 if correct after the attack (not attacked: if correct on the clean input). */
  robust: Uint8Array;
  cleanCorrect: Uint8Array;
  /** Per example distance (0 where not attacked). */
  distances: Float32Array;
  /** Per example queries (0 where not attacked). */
  queriesPer: Int32Array;
  kept: KeptExample[];
  /**
   * Fraction of the attacked examples whose adversarial record is valid (feasible in the
   * validated domain: box, grids, one-hot groups, immutables, relations). An invalid record
   * counts as not adversarial. Absent for transfer runs.
   */
  validity_rate?: number;
  /** Records that fooled the model but are invalid, so were not counted as adversarial. */
  invalid_successes?: number;
  /** Per example: 1 where the record is valid (1 where not attacked). */
  valid?: Uint8Array;
  /** Per example: features whose value the attack changed (0 where not attacked). */
  changed?: Int32Array;
  /** Features changed per counted adversarial record. */
  features_changed?: Stats;
}

function stats(xs: number[]): Stats {
  const { median, mean, max } = summarize(xs);
  return { median, mean, max };
}

/** Batches handed at once to an attack that refills (bounds its memory, keeps progress reports coming). */
const REFILL_SPAN = 8;

/** Budget slack: float32 arithmetic in projections. */
const SLACK = 1e-5;

/**
 * Runs an attack over a data set, attacking only the examples the model gets right (as
 * AutoAttack does; `attackMask` chooses others), then re-checks every adversarial example
 * itself: its prediction and that it lies inside the threat's budget and the domain (for a typed
 * domain: its integer grids, one-hot groups and immutables). An attack that returns an
 * out-of-budget or infeasible input is a bug, and this throws rather than report a flattering
 * number.
 *
 * @example
 * ```ts
 * const r = await runAttack(clf, subset(test, 1000), new Pgd({ steps: 50 }), { threat: parseThreat('linf:0.3') });
 * console.log(r.robust_accuracy);
 * ```
 */
export async function runAttack(clf: Classifier, ds: Dataset, attack: Attack<AnyThreat>, opts: AttackRunOptions): Promise<AttackRunResult> {
  requireThreat(attack.name, attack.support, opts.threat);
  const t0 = performance.now();
  const batchSize = opts.batchSize ?? 256;
  const seed = opts.seed ?? 0;
  const globalIndex = (i: number) => (opts.exampleIndices ? opts.exampleIndices[i]! : i);
  if (opts.exampleIndices && opts.exampleIndices.length !== ds.n) throw new Error(`runAttack: ${opts.exampleIndices.length} example indices for ${ds.n} examples`);
  const robust = new Uint8Array(ds.n);
  const cleanCorrect = new Uint8Array(ds.n);
  const distances = new Float32Array(ds.n);
  const queriesPer = new Int32Array(ds.n);
  const valid = new Uint8Array(ds.n).fill(1);
  const changed = new Int32Array(ds.n);
  const validate = opts.validate ?? clf.domain;
  let invalidSuccesses = 0;
  const succDist: number[] = [];
  const queries: number[] = [];
  const kept: KeptExample[] = [];
  const keep = opts.keepExamples ?? 0;
  let attacked = 0;
  let broken = 0;
  let done = 0;
  if (opts.attackMask && opts.attackMask.length !== ds.n) {
    throw new Error(`attackMask has ${opts.attackMask.length} entries for ${ds.n} examples`);
  }
  // An attack that refills gets several batches at once and keeps `batchSize` of them in flight.
  const span = attack.support.refills ? batchSize * REFILL_SPAN : batchSize;
  for (const batch of batches(ds, span)) {
    const { xs, ys } = toTensors(batch, ds.shape, ds.numClasses);
    ys.dispose();
    const probsClean = tf.tidy(() => tf.softmax(clf.logits(xs)));
    const predCleanT = tf.argMax(probsClean, 1);
    const predClean = predCleanT.dataSync();
    predCleanT.dispose();
    const pc = probsClean.dataSync();
    const correct: number[] = [];
    for (let k = 0; k < batch.size; k++) {
      const i = batch.indices[k]!;
      if (predClean[k] === batch.y[k]) cleanCorrect[i] = robust[i] = 1;
      if (opts.attackMask ? opts.attackMask[i] === 1 : cleanCorrect[i] === 1) correct.push(k);
    }
    if (correct.length > 0) {
      const idx = tf.tensor1d(correct, 'int32');
      const x = tf.gather(xs, idx);
      const yArr = Int32Array.from(correct, (k) => batch.y[k]!);
      const y = tf.tensor1d(yArr, 'int32');
      let targets: tf.Tensor1D | undefined;
      if (opts.targeted) {
        const other = (j: number) => new Rng(deriveSeed(seed, 'random-target', globalIndex(batch.indices[correct[j]!]!))).int(ds.numClasses - 1);
        targets = tf.tensor1d(Int32Array.from(yArr, (c, j) => (c + 1 + other(j)) % ds.numClasses), 'int32');
      }
      const indices = Int32Array.from(correct, (k) => globalIndex(batch.indices[k]!));
      const res = await attack.run(clf, x, y, { threat: opts.threat, targeted: opts.targeted, targets, seed: deriveSeed(seed, 'attack-run'), indices, window: batchSize });
      const check = tf.tidy(() => {
        const p = tf.softmax(clf.logits(res.xAdv));
        return { p, pred: tf.argMax(p, 1) };
      });
      const predAdv = check.pred.dataSync();
      const pa = check.p.dataSync();
      const verdict = opts.threat.check(x, res.xAdv, res.distance);
      const dist = verdict.distance;
      for (let j = 0; j < correct.length; j++) {
        if (!verdict.inside[j]) {
          throw new Error(`attack ${attack.name} returned an input at distance ${dist[j]} > ${opts.threat.budget} (${opts.threat}): this is a bug in the attack`);
        }
      }
      const ok = validity(validate, res.xAdv, x, attack.name);
      const xData = x.dataSync();
      const aData = res.xAdv.dataSync();
      const size = x.size / correct.length;
      for (let j = 0; j < correct.length; j++) {
        const k = correct[j]!;
        const i = batch.indices[k]!;
        valid[i] = ok[j]!;
        for (let f = j * size; f < (j + 1) * size; f++) if (Math.abs(aData[f]! - xData[f]!) > 1e-6) changed[i]!++;
        if (!ok[j] && predAdv[j] !== yArr[j]) invalidSuccesses++;
        // An invalid record is not adversarial: the network could not produce it.
        const stillRight = predAdv[j] === yArr[j] || !ok[j];
        robust[i] = stillRight ? 1 : 0;
        attacked++;
        if (!stillRight) broken++;
        distances[i] = dist[j]!;
        queries.push(res.queries[j]!);
        queriesPer[i] = res.queries[j]!;
        if (!stillRight) succDist.push(dist[j]!);
        if (opts.advOut && aData) opts.advOut.set(aData.subarray(j * size, (j + 1) * size), i * size);
        if (kept.length < keep) {
          const c = ds.numClasses;
          kept.push({
            index: i,
            label: yArr[j]!,
            x: xData.slice(j * size, (j + 1) * size) as Float32Array,
            xAdv: aData.slice(j * size, (j + 1) * size) as Float32Array,
            predClean: predClean[k]!,
            predAdv: predAdv[j]!,
            confClean: pc[k * c + predClean[k]!]!,
            confAdv: pa[j * c + predAdv[j]!]!,
          });
        }
      }
      tf.dispose([idx, x, y, res.xAdv, check.p, check.pred, ...(targets ? [targets] : [])]);
    }
    tf.dispose([xs, probsClean]);
    done += batch.size;
    opts.onProgress?.(done, ds.n);
  }
  const cleanCount = cleanCorrect.reduce((a, b) => a + b, 0);
  const robustCount = robust.reduce((a, b) => a + b, 0);
  const q = summarize(queries);
  let validCount = 0;
  const changedBroken: number[] = [];
  for (let i = 0; i < ds.n; i++) {
    const hit = opts.attackMask ? opts.attackMask[i] === 1 : cleanCorrect[i] === 1;
    if (hit) validCount += valid[i]!;
    if (hit && !robust[i] && cleanCorrect[i]) changedBroken.push(changed[i]!);
  }
  return {
    n: ds.n,
    clean_accuracy: ds.n ? cleanCount / ds.n : 0,
    robust_accuracy: ds.n ? robustCount / ds.n : 0,
    success_rate: attacked ? broken / attacked : 0,
    attacked,
    distance: stats(succDist),
    queries: q,
    time_s: (performance.now() - t0) / 1000,
    robust,
    cleanCorrect,
    distances,
    queriesPer,
    kept,
    validity_rate: attacked ? validCount / attacked : 1,
    invalid_successes: invalidSuccesses,
    valid,
    changed,
    features_changed: stats(changedBroken),
  };
}

/**
 * Per record of the batch, 1 when it is valid. A typed domain (grids, one-hot groups,
 * immutables, relations) is checked record by record with `infeasibility`, and an infeasible
 * record is reported invalid (it then counts as not adversarial). On a plain box every attack's
 * result is clipped by construction, so a value outside it is a bug in the attack: this throws.
 */
function validity(domain: Domain, xAdv: tf.Tensor, x: tf.Tensor, name: string): Uint8Array {
  const b = xAdv.shape[0]!;
  const out = new Uint8Array(b).fill(1);
  if (!isBox(domain)) {
    const size = xAdv.size / b;
    const adv = xAdv.dataSync() as Float32Array;
    const clean = x.dataSync() as Float32Array;
    for (let k = 0; k < b; k++) {
      if (infeasibility(domain, adv.subarray(k * size, (k + 1) * size), clean.subarray(k * size, (k + 1) * size))) out[k] = 0;
    }
    return out;
  }
  checkBox(domain, xAdv, name);
  return out;
}

function checkBox(domain: Domain, xAdv: tf.Tensor, name: string): void {
  const { lower, upper } = domain;
  const data = xAdv.dataSync();
  const size = xAdv.size / xAdv.shape[0]!;
  for (let i = 0; i < data.length; i++) {
    const f = i % size;
    const lo = typeof lower === 'number' ? lower : lower[f]!;
    const hi = typeof upper === 'number' ? upper : upper[f]!;
    if (data[i]! < lo - SLACK || data[i]! > hi + SLACK) {
      throw new Error(`attack ${name} returned a value ${data[i]} outside the domain [${lo}, ${hi}] (feature ${f}): this is a bug in the attack`);
    }
  }
}
