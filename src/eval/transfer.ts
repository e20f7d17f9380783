import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../model/classifier.js';
import type { Dataset } from '../data/dataset.js';
import { exampleSize } from '../data/dataset.js';
import { take } from '../data/batching.js';
import type { AnyThreat } from '../threat/threat.js';
import type { Attack } from '../attacks/attack.js';
import { runAttack, type AttackRunOptions, type AttackRunResult, type KeptExample, type Stats } from './attack-run.js';
import { summarize, type Summary } from './stats.js';

/** A classifier's prediction and its softmax confidence for every example of a flat buffer. */
export interface Predictions {
  pred: Int32Array;
  conf: Float32Array;
}

/** Predictions of a classifier on inputs given as one flat buffer shaped like the data set's examples. */
export function predictOn(clf: Classifier, ds: Dataset, x: Float32Array, batchSize = 500): Predictions {
  const size = exampleSize(ds);
  const pred = new Int32Array(ds.n);
  const conf = new Float32Array(ds.n);
  for (let s = 0; s < ds.n; s += batchSize) {
    const n = Math.min(batchSize, ds.n - s);
    const [p, c] = tf.tidy(() => {
      const probs = tf.softmax(clf.logits(tf.tensor(x.subarray(s * size, (s + n) * size), [n, ...ds.shape])));
      return [tf.argMax(probs, 1), tf.max(probs, 1)];
    });
    pred.set(p!.dataSync(), s);
    conf.set(c!.dataSync(), s);
    tf.dispose([p!, c!]);
  }
  return { pred, conf };
}

/** Accuracy of a classifier on inputs given as one flat buffer with the data set's labels. */
export function accuracyOn(clf: Classifier, ds: Dataset, x: Float32Array): number {
  const { pred } = predictOn(clf, ds, x);
  let hits = 0;
  for (let i = 0; i < ds.n; i++) if (pred[i] === ds.y[i]) hits++;
  return ds.n ? hits / ds.n : 0;
}

/** What the surrogate saw during a transfer attack (its own figures, not the target's). */
export interface SurrogateSide {
  /** Surrogate accuracy on the clean inputs of all n examples. */
  clean_accuracy: number;
  /** Of the attacked examples, those the surrogate already misclassified before the attack. */
  already_misclassified: number;
  /** Fraction of the attacked examples the surrogate misclassifies on the crafted inputs. */
  success_rate: number;
  /** Surrogate queries per attacked example. */
  queries: Summary;
  /** Time spent crafting on the surrogate. */
  time_s: number;
}

/**
 * A transfer attack's result: every figure of {@link AttackRunResult} is the target's.
 *
 * @example
 * ```ts
 * const r: TransferAttackResult = await transferAttack(target, surrogate, subset(test, 500), new Pgd(), { threat: parseThreat('linf:0.3') });
 * console.log(r.robust_accuracy, r.surrogate);
 * ```
 */
export interface TransferAttackResult extends AttackRunResult {
  surrogate: SurrogateSide;
}

/**
 * A transfer (black-box) attack: the examples are crafted on `surrogate` and measured on `target`.
 *
 * The rule: every example the **target** classifies correctly is attacked on the surrogate with
 * its true label, whatever the surrogate predicts, and the input the attack returns is what the
 * target sees. An example the surrogate already misclassifies would make an attack that stops
 * at its first success return its starting point, so (untargeted) it is attacked on the
 * surrogate with its true class's logit raised by a constant — per true class, one more than the
 * largest gap those examples need to be classified correctly — so the attack starts on the right
 * side and pushes away from the true class as for any other example. Examples the target
 * misclassifies are not attacked and count as not robust.
 *
 * All figures of the result are the target's: clean and robust accuracy, `success_rate` and
 * `attacked` over the target-correct examples, `distance` of the inputs that fool the target,
 * `queries` to the target (0: crafting never queries it), `time_s` of the whole run, and `kept`
 * with the target's predictions. The surrogate's own figures are in `surrogate`.
 *
 * @example
 * ```ts
 * const r = await transferAttack(onnxModel, tfjsTwin, subset(test, 1000), new Pgd({ steps: 50 }), { threat: parseThreat('linf:0.1') });
 * console.log(r.robust_accuracy, r.surrogate.success_rate);
 * ```
 */
export async function transferAttack(
  target: Classifier,
  surrogate: Classifier,
  ds: Dataset,
  attack: Attack<AnyThreat>,
  opts: Omit<AttackRunOptions, 'advOut' | 'attackMask'>,
): Promise<TransferAttackResult> {
  const t0 = performance.now();
  const size = exampleSize(ds);
  let tt = performance.now();
  const clean = predictOn(target, ds, ds.x);
  let targetTime = (performance.now() - tt) / 1000;
  const cleanCorrect = Uint8Array.from(clean.pred, (p, i) => (p === ds.y[i] ? 1 : 0));
  const adv = ds.x.slice(0, ds.n * size);
  const s = await runAttack(surrogate, ds, attack, { ...opts, keepExamples: 0, advOut: adv, attackMask: cleanCorrect });
  const surrogateDist = s.distances.slice();
  const surrogateQueries = s.queriesPer.slice();
  if (!opts.targeted) await pushAlreadyWrong(surrogate, ds, attack, opts, cleanCorrect, s.cleanCorrect, adv, surrogateDist, surrogateQueries);
  tt = performance.now();
  const after = predictOn(target, ds, adv);
  targetTime += (performance.now() - tt) / 1000;
  const robust = new Uint8Array(ds.n);
  const distances = new Float32Array(ds.n);
  const succDist: number[] = [];
  const kept: KeptExample[] = [];
  const keep = opts.keepExamples ?? 0;
  let attacked = 0;
  let alreadyWrong = 0;
  for (let i = 0; i < ds.n; i++) {
    if (!cleanCorrect[i]) continue;
    attacked++;
    if (!s.cleanCorrect[i]) alreadyWrong++;
    distances[i] = surrogateDist[i]!;
    robust[i] = after.pred[i] === ds.y[i] ? 1 : 0;
    if (!robust[i]) succDist.push(surrogateDist[i]!);
    if (kept.length < keep) {
      kept.push({
        index: i,
        label: ds.y[i]!,
        x: ds.x.slice(i * size, (i + 1) * size),
        xAdv: adv.slice(i * size, (i + 1) * size),
        predClean: clean.pred[i]!,
        predAdv: after.pred[i]!,
        confClean: clean.conf[i]!,
        confAdv: after.conf[i]!,
      });
    }
  }
  const robustCount = robust.reduce((a, b) => a + b, 0);
  const { median, mean, max } = summarize(succDist);
  const distance: Stats = { median, mean, max };
  return {
    n: ds.n,
    clean_accuracy: ds.n ? attacked / ds.n : 0,
    robust_accuracy: ds.n ? robustCount / ds.n : 0,
    success_rate: attacked ? (attacked - robustCount) / attacked : 0,
    attacked,
    distance,
    queries: summarize(new Array<number>(attacked).fill(0)),
    time_s: (performance.now() - t0) / 1000,
    robust,
    cleanCorrect,
    distances,
    queriesPer: new Int32Array(ds.n),
    kept,
    surrogate: {
      clean_accuracy: s.clean_accuracy,
      already_misclassified: alreadyWrong,
      success_rate: s.success_rate,
      queries: summarize(Array.from(surrogateQueries).filter((_, i) => cleanCorrect[i])),
      time_s: (performance.now() - t0) / 1000 - targetTime,
    },
  };
}

/**
 * Attacks, on the surrogate, the target-correct examples the surrogate already misclassifies:
 * per true class c, on the surrogate with logit c raised by one more than the largest gap
 * max_{j≠c} z_j − z_c among them, so each starts correctly classified and the attack pushes it
 * away from c instead of returning its start. Writes their inputs into `adv`, their distances
 * and queries into `dist` and `queries`.
 */
async function pushAlreadyWrong(
  surrogate: Classifier,
  ds: Dataset,
  attack: Attack<AnyThreat>,
  opts: Omit<AttackRunOptions, 'advOut' | 'attackMask'>,
  targetCorrect: Uint8Array,
  surrogateCorrect: Uint8Array,
  adv: Float32Array,
  dist: Float32Array,
  queries: Int32Array,
): Promise<void> {
  const size = exampleSize(ds);
  for (let c = 0; c < ds.numClasses; c++) {
    const idx: number[] = [];
    for (let i = 0; i < ds.n; i++) if (targetCorrect[i] && !surrogateCorrect[i] && ds.y[i] === c) idx.push(i);
    if (idx.length === 0) continue;
    const part = take(ds, idx);
    const zT = tf.tidy(() => surrogate.logits(tf.tensor(part.x, [part.n, ...ds.shape])));
    const z = zT.dataSync();
    zT.dispose();
    let gap = 0;
    for (let j = 0; j < part.n; j++) {
      for (let k = 0; k < ds.numClasses; k++) if (k !== c) gap = Math.max(gap, z[j * ds.numClasses + k]! - z[j * ds.numClasses + c]!);
    }
    const shift = gap + 1;
    const bonus = tf.tidy(() => tf.mul(tf.oneHot(tf.tensor1d([c], 'int32'), ds.numClasses), shift));
    const shifted: Classifier = { ...surrogate, logits: (x) => tf.tidy(() => tf.add(surrogate.logits(x), bonus)) };
    const out = part.x.slice();
    const r = await runAttack(shifted, part, attack, { ...opts, keepExamples: 0, onProgress: undefined, advOut: out });
    bonus.dispose();
    idx.forEach((i, j) => {
      adv.set(out.subarray(j * size, (j + 1) * size), i * size);
      dist[i] = r.distances[j]!;
      queries[i] = queries[i]! + r.queriesPer[j]!;
    });
  }
}

/**
 * The transferability matrix: adversarial examples crafted on each model (source, column) and
 * every model's robust accuracy on them (target, row): `matrix[target][source]` is the fraction
 * of examples the target classifies correctly both clean and after the transfer. Every example
 * is crafted on every source, those the source already misclassifies as in
 * {@link transferAttack} (so no target gets a clean input merely because the source was wrong);
 * the diagonal is each model's white-box robust accuracy.
 *
 * @example
 * ```ts
 * const m = await transferMatrix([a, b], subset(test, 1000), parseThreat('linf:0.3'), new Pgd({ steps: 50 }));
 * ```
 */
export async function transferMatrix(models: Classifier[], ds: Dataset, threat: AnyThreat, attack: Attack<AnyThreat>, seed = 0, onSource?: (j: number) => void): Promise<number[][]> {
  const size = exampleSize(ds);
  const cleanCorrect = models.map((m) => predictOn(m, ds, ds.x).pred.map((p, i) => (p === ds.y[i] ? 1 : 0)));
  const all = new Uint8Array(ds.n).fill(1);
  const matrix = models.map(() => models.map(() => 0));
  for (let j = 0; j < models.length; j++) {
    const adv = ds.x.slice(0, ds.n * size);
    const opts = { threat, seed };
    const r = await runAttack(models[j]!, ds, attack, { ...opts, advOut: adv, attackMask: all });
    await pushAlreadyWrong(models[j]!, ds, attack, opts, all, r.cleanCorrect, adv, new Float32Array(ds.n), new Int32Array(ds.n));
    for (let i = 0; i < models.length; i++) {
      const { pred } = predictOn(models[i]!, ds, adv);
      let hits = 0;
      for (let k = 0; k < ds.n; k++) if (cleanCorrect[i]![k] && pred[k] === ds.y[k]) hits++;
      matrix[i]![j] = ds.n ? hits / ds.n : 0;
    }
    onSource?.(j);
  }
  return matrix;
}
