import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../model/classifier.js';
import { scaleRows } from '../threat/threat-model.js';
import type { Attack, AttackOptions, AttackResult } from './attack.js';
import type { AttackSupport } from './support.js';
import { CheckedAttack, type AttackContext } from './checked.js';
import { probe } from './gradient.js';
import type { AttackLoss } from './losses.js';
import { AttackTracker, remaining, shrinkRows } from './tracker.js';
import { StepSizeSchedule } from './apgd-schedule.js';
import { UserError } from '../errors.js';
import { deriveSeed } from '../data/rng.js';

/**
 * Hyperparameters of {@link Apgd}.
 *
 * @example
 * ```ts
 * const params: Partial<ApgdParams> = { steps: 100, loss: 'dlr' };
 * const apgd = new Apgd(params);
 * ```
 */
export type ApgdParams = {
  /** Iterations (gradient evaluations after the start) per restart. Default 100. */
  steps: number;
  /** Independent runs from random starts; each runs on the examples still unbroken. Default 1. */
  restarts: number;
  /** Objective: cross-entropy ('ce') or Difference of Logits Ratio ('dlr'). Default 'ce'. */
  loss: Extract<AttackLoss, 'ce' | 'dlr'>;
  /** Share of loss-increasing steps since the last checkpoint below which the step size is halved. Default 0.75. */
  rho: number;
  /** Momentum weight α of the update (1: no momentum). Default 0.75. */
  momentum: number;
  /** Start each run from a random point of the ball (else from x). Default true. */
  randomStart: boolean;
};

export const APGD_DEFAULTS: ApgdParams = { steps: 100, restarts: 1, loss: 'ce', rho: 0.75, momentum: 0.75, randomStart: true };

function checkParams(p: ApgdParams): void {
  if (!Number.isInteger(p.steps) || p.steps < 1) throw new UserError(`--steps must be a positive integer (got ${p.steps})`);
  if (!Number.isInteger(p.restarts) || p.restarts < 1) throw new UserError(`--restarts must be a positive integer (got ${p.restarts})`);
  if (p.loss !== 'ce' && p.loss !== 'dlr') throw new UserError(`apgd loss must be 'ce' or 'dlr' (got '${String(p.loss)}')`);
  if (!(p.rho > 0 && p.rho <= 1)) throw new UserError(`apgd rho must lie in (0, 1] (got ${p.rho})`);
  if (!(p.momentum > 0 && p.momentum <= 1)) throw new UserError(`apgd momentum must lie in (0, 1] (got ${p.momentum})`);
}

export { apgdCheckpoints } from './apgd-schedule.js';

/** The threats, model access and hyperparameters of {@link Apgd}. */
export const APGD_SUPPORT: AttackSupport = { norms: ['linf', 'l2', 'l1'], access: 'gradient', params: ['steps', 'restarts', 'loss', 'rho', 'momentum', 'randomStart'] };
/**
 * Auto-PGD (Croce & Hein, ICML 2020, "Reliable evaluation of adversarial robustness with an
 * ensemble of diverse parameter-free attacks"): PGD without a step-size parameter. The step
 * starts at 2ε and is halved at the checkpoints {@link apgdCheckpoints} when fewer than ρ of the
 * steps since the last checkpoint raised the loss, or when neither the step nor the best loss
 * changed since the last checkpoint; after a halving the iterate restarts from the best point
 * found. Each update is x ← P(x + α(z − x) + (1 − α)(x − x_prev)) with z = P(x + η·step) and
 * momentum α = 0.75. Works in every norm of the ThreatModel (its steepest-ascent step and
 * projection). Loss 'ce' (APGD-CE) or 'dlr' (APGD-DLR; targeted: the targeted DLR loss). Stops
 * early per example. One query per iteration and example, plus one at the start.
 *
 * @example
 * ```ts
 * const r = await new Apgd({ steps: 100, loss: 'ce' }).run(clf, x, y, { threat: parseThreat('linf:0.3'), seed: 0 });
 * ```
 */
export class Apgd extends CheckedAttack<ApgdParams> {

  constructor(params: Partial<ApgdParams> = {}) {
    super(`apgd-${params.loss ?? APGD_DEFAULTS.loss}`, APGD_SUPPORT, APGD_DEFAULTS, params);
    checkParams(this.params);
  }

  protected async attack(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, ctx: AttackContext): Promise<AttackResult> {
    const { threat, target, seed, indices, opts } = ctx;
    const p = this.params;
    const tracker = new AttackTracker(x);
    let iterations = 0;
    let it = 0;
    for (let r = 0; r < p.restarts; r++) {
      let idx = tracker.activeIndices();
      if (idx.length === 0) break;
      const gi = () => tf.tensor1d(Array.from(idx), 'int32');
      let x0 = tf.tidy(() => tf.gather(x, gi()));
      let ya = tf.tidy(() => tf.gather(y, gi())) as tf.Tensor1D;
      let ta = target ? (tf.tidy(() => tf.gather(target, gi())) as tf.Tensor1D) : undefined;
      let cur = p.randomStart ? threat.randomStart(x0, clf.domain, deriveSeed(seed, 'apgd-start', r), Int32Array.from(idx, (k) => indices[k]!)) : x0.clone();
      const first = probe(clf, cur, ya, p.loss, ta);
      tracker.count(idx);
      const f0 = first.objective.dataSync();
      const schedule = new StepSizeSchedule(p.steps, p.rho, threat.eps, f0);
      let done = tracker.offer(idx, cur, first.success.dataSync(), undefined, f0);
      let grad = first.grad;
      let xBest = cur.clone();
      let gBest = grad.clone();
      let prev = cur.clone();
      tf.dispose([first.logits, first.objective, first.success]);
      for (let k = 0; ; k++) {
        // Drop the examples broken so far.
        const keep = remaining(done);
        if (keep.length < idx.length) {
          idx = Int32Array.from(keep, (j) => idx[j]!);
          const shrink = <T extends tf.Tensor>(t: T): T => shrinkRows(t, keep);
          [cur, prev, grad, xBest, gBest, x0] = [cur, prev, grad, xBest, gBest, x0].map(shrink);
          ya = shrink(ya);
          if (ta) ta = shrink(ta);
          schedule.keep(keep);
        }
        if (k === p.steps || idx.length === 0) break;
        const a = k === 0 ? 1 : p.momentum;
        const next = tf.tidy(() => {
          const z = threat.project(tf.add(cur, scaleRows(threat.ascentStep(grad, 1), tf.tensor1d(schedule.eta))), x0, clf.domain);
          if (a === 1) return z;
          return threat.project(tf.add(tf.add(cur, tf.mul(tf.sub(z, cur), a)), tf.mul(tf.sub(cur, prev), 1 - a)), x0, clf.domain);
        });
        prev.dispose();
        prev = cur;
        cur = next;
        grad.dispose();
        const pr = probe(clf, cur, ya, p.loss, ta);
        tracker.count(idx);
        const f = pr.objective.dataSync();
        done = tracker.offer(idx, cur, pr.success.dataSync(), undefined, f);
        grad = pr.grad;
        tf.dispose([pr.logits, pr.objective, pr.success]);
        const better = schedule.observe(f);
        if (better.some((v) => v)) {
          const mask = tf.tensor1d(better);
          const nb = tf.tidy(() => tf.add(xBest, scaleRows(tf.sub(cur, xBest), mask)));
          const ng = tf.tidy(() => tf.add(gBest, scaleRows(tf.sub(grad, gBest), mask)));
          tf.dispose([mask, xBest, gBest]);
          xBest = nb;
          gBest = ng;
        }
        iterations = Math.max(iterations, k + 1);
        const halve = schedule.checkpoint(k + 1);
        if (halve?.some((v) => v)) {
          // Restart the halved examples from their best point (with its gradient, no momentum).
          const mask = tf.tensor1d(halve);
          const sel = (a: tf.Tensor, bb: tf.Tensor) => tf.tidy(() => tf.add(a, scaleRows(tf.sub(bb, a), mask)));
          const nc = sel(cur, xBest);
          const ng = sel(grad, gBest);
          const np = sel(prev, xBest);
          tf.dispose([mask, cur, grad, prev]);
          cur = nc;
          grad = ng;
          prev = np;
        }
        opts.onIteration?.(it++, idx.length);
      }
      tf.dispose([cur, prev, grad, xBest, gBest, x0, ya, ...(ta ? [ta] : [])]);
    }
    return tracker.result(threat, iterations);
  }
}

/**
 * Runs a targeted attack against each of the k most likely wrong classes in turn (by the clean
 * logits' rank), each time on the examples still unbroken, as AutoAttack's APGD-T and FAB-T do.
 * Success means the model predicts the target of some run (hence misclassifies); an example keeps
 * the point of its first successful run, a failed one the first run's attempt. Queries add up over
 * the runs (plus one clean forward pass). Works with any attack that has a targeted mode (APGD,
 * FAB, CW-L2, PGD).
 *
 * @example
 * ```ts
 * const r = await runTopKTargeted(new Apgd({ loss: 'dlr' }), clf, x, y, { threat: parseThreat('linf:0.3'), seed: 0 }, 9);
 * ```
 */
export async function runTopKTargeted(
  attack: Attack,
  clf: Classifier,
  x: tf.Tensor,
  y: tf.Tensor1D,
  opts: Omit<AttackOptions, 'targeted' | 'targets'>,
  k = 9,
): Promise<AttackResult> {
  if (!Number.isInteger(k) || k < 1) throw new UserError(`the number of target classes must be a positive integer (got ${k})`);
  const n = x.shape[0]!;
  const size = x.size / n;
  const kk = Math.min(k, clf.numClasses - 1);
  const order = tf.tidy(() => {
    const z = clf.logits(x);
    return tf.topk(tf.sub(z, tf.mul(tf.oneHot(y, clf.numClasses), 1e9)), kk).indices;
  });
  const ranks = order.dataSync();
  order.dispose();
  const best = x.dataSync().slice() as Float32Array;
  const success = new Uint8Array(n);
  const distance = new Float32Array(n);
  const queries = new Int32Array(n).fill(1);
  const filled = new Uint8Array(n);
  let iterations = 0;
  for (let t = 0; t < kk; t++) {
    const idx: number[] = [];
    for (let i = 0; i < n; i++) if (!success[i]) idx.push(i);
    if (idx.length === 0) break;
    const [xs, ys, ts] = tf.tidy(() => {
      const it = tf.tensor1d(idx, 'int32');
      return [tf.gather(x, it), tf.gather(y, it) as tf.Tensor1D, tf.tensor1d(idx.map((i) => ranks[i * kk + t]!), 'int32')];
    });
    const indices = idx.map((i) => (opts.indices ? opts.indices[i]! : i));
    const r = await attack.run(clf, xs, ys as tf.Tensor1D, { ...opts, seed: deriveSeed(opts.seed ?? 0, 'target-rank', t), indices, targeted: true, targets: ts as tf.Tensor1D });
    const data = r.xAdv.dataSync();
    for (let j = 0; j < idx.length; j++) {
      const i = idx[j]!;
      queries[i]! += r.queries[j]!;
      if (r.success[j] || !filled[i]) {
        best.set(data.subarray(j * size, (j + 1) * size), i * size);
        distance[i] = r.distance[j]!;
        filled[i] = 1;
        if (r.success[j]) success[i] = 1;
      }
    }
    iterations = Math.max(iterations, r.iterations);
    tf.dispose([xs, ys, ts, r.xAdv]);
  }
  return { xAdv: tf.tensor(best, x.shape), success, distance, queries, iterations };
}

/**
 * Hyperparameters of {@link ApgdTargeted}: those of {@link Apgd} plus the number of target classes.
 *
 * @example
 * ```ts
 * const params: Partial<ApgdTargetedParams> = { steps: 100, targetClasses: 3 };
 * const apgdT = new ApgdTargeted(params);
 * ```
 */
export type ApgdTargetedParams = ApgdParams & {
  /** Target classes tried per example, by clean-logit rank. Default 9. */
  targetClasses: number;
};

/** The threats, model access and hyperparameters of {@link ApgdTargeted}. */
export const APGD_T_SUPPORT: AttackSupport = { norms: ['linf', 'l2', 'l1'], access: 'gradient', params: ['steps', 'restarts', 'loss', 'rho', 'momentum', 'randomStart', 'targetClasses'] };
/**
 * APGD-T as in AutoAttack's standard version: targeted APGD with the targeted DLR loss, run
 * against each of the `targetClasses` most likely wrong classes (see {@link runTopKTargeted}).
 * Used as an untargeted attack (success: the prediction changed). With `targeted` and `targets`
 * given, it runs one targeted APGD instead.
 *
 * @example
 * ```ts
 * const r = await new ApgdTargeted({ steps: 100, targetClasses: 9 }).run(clf, x, y, { threat: parseThreat('linf:0.3'), seed: 0 });
 * ```
 */
export class ApgdTargeted extends CheckedAttack<ApgdTargetedParams> {
  private readonly inner: Apgd;

  constructor(params: Partial<ApgdTargetedParams> = {}) {
    const { targetClasses = 9, ...rest } = params;
    if (!Number.isInteger(targetClasses) || targetClasses < 1) throw new UserError(`apgd-t targetClasses must be a positive integer (got ${targetClasses})`);
    const inner = new Apgd({ loss: 'dlr', ...rest });
    super('apgd-t', APGD_T_SUPPORT, { ...inner.params, targetClasses }, {});
    this.inner = inner;
  }

  protected attack(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, { opts }: AttackContext): Promise<AttackResult> {
    if (opts.targeted) return this.inner.run(clf, x, y, opts);
    return runTopKTargeted(this.inner, clf, x, y, opts, this.params.targetClasses);
  }
}
