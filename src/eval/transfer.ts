import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../model/classifier.js';
import type { Dataset } from '../data/dataset.js';
import { exampleSize } from '../data/dataset.js';
import type { ThreatModel } from '../threat/threat-model.js';
import type { AnyThreat, Attack } from '../attacks/attack.js';
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

/** A transfer attack's result: every figure of {@link AttackRunResult} is the target's. */
export interface TransferAttackResult extends AttackRunResult {
  surrogate: SurrogateSide;
}

/**
 * A transfer (black-box) attack: the examples are crafted on `surrogate` and measured on `target`.
 *
 * The rule: every example the **target** classifies correctly is attacked on the surrogate with
 * its true label, whatever the surrogate predicts; the input the attack returns is what the
 * target sees, also where the surrogate already misclassified the clean input (then an attack
 * that stops at its first success returns its starting point: the clean input, or its random
 * start). Examples the target misclassifies are not attacked and count as not robust.
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
  const clean = predictOn(target, ds, ds.x);
  const cleanCorrect = Uint8Array.from(clean.pred, (p, i) => (p === ds.y[i] ? 1 : 0));
  const adv = ds.x.slice(0, ds.n * size);
  const s = await runAttack(surrogate, ds, attack, { ...opts, keepExamples: 0, advOut: adv, attackMask: cleanCorrect });
  const after = predictOn(target, ds, adv);
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
    distances[i] = s.distances[i]!;
    robust[i] = after.pred[i] === ds.y[i] ? 1 : 0;
    if (!robust[i]) succDist.push(s.distances[i]!);
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
      queries: s.queries,
      time_s: s.time_s,
    },
  };
}

/**
 * The transferability matrix: adversarial examples crafted on each model (source, column) and
 * every model's robust accuracy on them (target, row): `matrix[target][source]` is the fraction
 * of examples the target classifies correctly both clean and after the transfer. Every example
 * is crafted on every source, also those the source already misclassifies (so no target gets a
 * clean input merely because the source was wrong); the diagonal is each model's white-box robust
 * accuracy.
 *
 * @example
 * ```ts
 * const m = await transferMatrix([a, b], subset(test, 1000), parseThreat('linf:0.3'), new Pgd({ steps: 50 }));
 * ```
 */
export async function transferMatrix(models: Classifier[], ds: Dataset, threat: ThreatModel, attack: Attack, seed = 0, onSource?: (j: number) => void): Promise<number[][]> {
  const size = exampleSize(ds);
  const cleanCorrect = models.map((m) => predictOn(m, ds, ds.x).pred.map((p, i) => (p === ds.y[i] ? 1 : 0)));
  const all = new Uint8Array(ds.n).fill(1);
  const matrix = models.map(() => models.map(() => 0));
  for (let j = 0; j < models.length; j++) {
    const adv = ds.x.slice(0, ds.n * size);
    await runAttack(models[j]!, ds, attack, { threat, seed, advOut: adv, attackMask: all });
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
