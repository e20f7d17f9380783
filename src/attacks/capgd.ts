import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import type { Classifier } from '../model/classifier.js';
import { scaleRows, type ThreatModel } from '../threat/threat-model.js';
import type { AttackResult } from './attack.js';
import type { AttackSupport } from './support.js';
import { CheckedAttack, type AttackContext } from './checked.js';
import { StepSizeSchedule } from './apgd-schedule.js';
import { probe } from './gradient.js';
import { AttackTracker, remaining, shrinkRows } from './tracker.js';
import { boxOnly, finishCandidates, mutableMask, projectionDomain, violationSum } from './constrained.js';
import { UserError } from '../errors.js';
import { deriveSeed } from '../data/rng.js';

/**
 * Hyperparameters of {@link Capgd}.
 *
 * @example
 * ```ts
 * const params: Partial<CapgdParams> = { steps: 50, violationWeight: 1 };
 * const capgd = new Capgd(params);
 * ```
 */
export type CapgdParams = {
  /** Gradient steps per restart. Default 30. */
  steps: number;
  /** Runs; the first starts at the clean record, later ones at random points of the ball. Default 1. */
  restarts: number;
  /** Weight of the relations' summed violation subtracted from the cross-entropy. Default 1. */
  violationWeight: number;
  /** Share of loss-increasing steps since the last checkpoint below which the step is halved (APGD's ρ). Default 0.75. */
  rho: number;
  /** Momentum weight α of the update (1: no momentum). Default 0.75. */
  momentum: number;
};

export const CAPGD_DEFAULTS: CapgdParams = { steps: 30, restarts: 1, violationWeight: 1, rho: 0.75, momentum: 0.75 };

function checkParams(p: CapgdParams): void {
  if (!Number.isInteger(p.steps) || p.steps < 1) throw new UserError(`capgd steps must be a positive integer (got ${p.steps})`);
  if (!Number.isInteger(p.restarts) || p.restarts < 1) throw new UserError(`capgd restarts must be a positive integer (got ${p.restarts})`);
  if (!(p.violationWeight >= 0)) throw new UserError(`capgd violationWeight must be ≥ 0 (got ${p.violationWeight})`);
  if (!(p.rho > 0 && p.rho <= 1)) throw new UserError(`capgd rho must lie in (0, 1] (got ${p.rho})`);
  if (!(p.momentum > 0 && p.momentum <= 1)) throw new UserError(`capgd momentum must lie in (0, 1] (got ${p.momentum})`);
}

/** The threats, model access and hyperparameters of {@link Capgd}. */
export const CAPGD_SUPPORT: AttackSupport = { norms: ['linf', 'l2'], access: 'gradient', constrained: true, params: ['steps', 'restarts', 'violationWeight', 'rho', 'momentum'] };

/** Options of {@link capgdPerturb} besides the hyperparameters. */
export interface CapgdRun {
  seed: number;
  /** Global example indices (keys of the random starts), default 0..b−1. */
  indices?: ArrayLike<number>;
  target?: tf.Tensor1D;
  onIteration?: (iteration: number, active: number) => void;
}

/**
 * Loss, success and masked input gradient of CE − w·violation at one point. The cross-entropy part
 * is the gradient attacks' `probe` (one native call for an MLP on the native engine); the
 * relations' violation, which does not involve the model, is differentiated on its own and only on
 * the rows where some relation fails (`violating`, from the host check): on every other row it is
 * 0 with a 0 gradient, and relations can cost more than the model.
 */
function constrainedProbe(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, target: tf.Tensor1D | undefined, w: number, mask: tf.Tensor, violating: Uint8Array) {
  const rowsOn: number[] = [];
  if (w > 0) violating.forEach((v, j) => v && rowsOn.push(j));
  const pr = probe(clf, x, y, 'ce', target);
  const f = pr.objective.dataSync().slice() as Float32Array;
  const s = pr.success.dataSync().slice() as Uint8Array;
  let grad = pr.grad;
  if (rowsOn.length) {
    const rows = tf.tensor1d(rowsOn, 'int32');
    let viol: tf.Tensor1D | undefined;
    const { value, grad: gv } = tf.valueAndGrad((xi: tf.Tensor) => {
      const v = violationSum(clf.domain, tf.gather(xi, rows));
      viol = tf.keep(v);
      return tf.sum(v) as tf.Scalar;
    })(x);
    grad = tf.tidy(() => tf.sub(pr.grad, tf.mul(gv, w)));
    const v = viol!.dataSync();
    rowsOn.forEach((j, k) => (f[j] = f[j]! - w * v[k]!));
    tf.dispose([value, gv, rows, viol!, pr.grad]);
  }
  const masked = tf.mul(grad, mask);
  tf.dispose([grad, pr.logits, pr.objective, pr.success]);
  return { grad: masked, f, success: s };
}

/** Host rows of `all` at the given positions. */
function hostRows(all: Float32Array, at: ArrayLike<number>, d: number): Float32Array {
  const out = new Float32Array(at.length * d);
  for (let k = 0; k < at.length; k++) out.set(all.subarray(at[k]! * d, (at[k]! + 1) * d), k * d);
  return out;
}

/**
 * CAPGD on one batch (what {@link Capgd} and the `capgd-at` training strategy run): APGD's
 * step-size schedule and momentum on the loss CE − w·Σ violations, the gradient masked on
 * immutable features; after every step the candidate is projected (ball, box, integer grids,
 * one-hot groups, immutables) and the relations are repaired; only valid candidates (inside the
 * ball and feasible, relations included) may become the result. The iterate itself moves on
 * freely. Returns the best valid record per example (the clean record where none was found),
 * with success flags that count valid records only. Leaks no tensors.
 *
 * @example
 * ```ts
 * const r = capgdPerturb(clf, x, y, parseThreat('l2:0.5'), CAPGD_DEFAULTS, { seed: 0 });
 * r.xAdv.dispose();
 * ```
 */
export function capgdPerturb(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, threat: ThreatModel, p: CapgdParams, run: CapgdRun): AttackResult {
  const domain = clf.domain;
  const pd = projectionDomain(domain);
  const box = boxOnly(domain);
  const b = x.shape[0]!;
  const d = x.size / b;
  const mask = tf.tensor(mutableMask(domain, d), [1, ...x.shape.slice(1)]);
  const cleanAll = x.dataSync() as Float32Array;
  const indices = run.indices ?? Int32Array.from({ length: b }, (_, i) => i);
  const tracker = new AttackTracker(x);
  let iterations = 0;
  let it = 0;
  for (let r = 0; r < p.restarts; r++) {
    let idx = tracker.activeIndices();
    if (idx.length === 0) break;
    const gather = <T extends tf.Tensor>(t: T) => tf.tidy(() => tf.gather(t, tf.tensor1d(Array.from(idx), 'int32'))) as T;
    let x0 = gather(x);
    let ya = gather(y);
    let ta = run.target ? gather(run.target) : undefined;
    let clean = hostRows(cleanAll, idx, d);
    const start = r === 0 ? x0.clone() : threat.randomStart(x0, pd, deriveSeed(run.seed, 'capgd-start', r), Int32Array.from(idx, (k) => indices[k]!));
    const fin = finishCandidates(domain, threat, start, clean);
    if (fin.x !== start) start.dispose();
    let cur = fin.x;
    let valid = fin.valid;
    let violating = fin.violating;
    const offer = (f: Float32Array, success: Uint8Array) =>
      tracker.offer(
        idx,
        cur,
        Uint8Array.from(success, (s, j) => (s && valid[j] ? 1 : 0)),
        undefined,
        Float32Array.from(f, (v, j) => (valid[j] ? v : -Infinity)),
      );
    const first = constrainedProbe(clf, cur, ya, ta, p.violationWeight, mask, violating);
    tracker.count(idx);
    const schedule = new StepSizeSchedule(p.steps, p.rho, threat.eps, first.f);
    let done = offer(first.f, first.success);
    let grad = first.grad;
    let xBest = cur.clone();
    let gBest = grad.clone();
    let prev = cur.clone();
    for (let k = 0; ; k++) {
      const keep = remaining(done);
      if (keep.length < idx.length) {
        idx = Int32Array.from(keep, (j) => idx[j]!);
        const shrink = <T extends tf.Tensor>(t: T): T => shrinkRows(t, keep);
        [cur, prev, grad, xBest, gBest, x0] = [cur, prev, grad, xBest, gBest, x0].map(shrink);
        ya = shrink(ya);
        if (ta) ta = shrink(ta);
        clean = hostRows(clean, keep, d);
        valid = Uint8Array.from(keep, (j) => valid[j]!);
        violating = Uint8Array.from(keep, (j) => violating[j]!);
        schedule.keep(keep);
      }
      if (k === p.steps || idx.length === 0) break;
      const a = k === 0 ? 1 : p.momentum;
      // The momentum step's inner point needs only the ball and the box; the result gets the full projection.
      const projected = tf.tidy(() => {
        const z = threat.project(tf.add(cur, scaleRows(threat.ascentStep(grad, 1), tf.tensor1d(schedule.eta))), x0, a === 1 ? pd : box);
        if (a === 1) return z;
        return threat.project(tf.add(tf.add(cur, tf.mul(tf.sub(z, cur), a)), tf.mul(tf.sub(cur, prev), 1 - a)), x0, pd);
      });
      const next = finishCandidates(domain, threat, projected, clean);
      if (next.x !== projected) projected.dispose();
      prev.dispose();
      prev = cur;
      cur = next.x;
      valid = next.valid;
      violating = next.violating;
      grad.dispose();
      const pr = constrainedProbe(clf, cur, ya, ta, p.violationWeight, mask, violating);
      tracker.count(idx);
      const f = pr.f;
      done = offer(f, pr.success);
      grad = pr.grad;
      const better = schedule.observe(f);
      if (better.some((v) => v)) {
        const m = tf.tensor1d(better);
        const nb = tf.tidy(() => tf.add(xBest, scaleRows(tf.sub(cur, xBest), m)));
        const ng = tf.tidy(() => tf.add(gBest, scaleRows(tf.sub(grad, gBest), m)));
        tf.dispose([m, xBest, gBest]);
        xBest = nb;
        gBest = ng;
      }
      iterations = Math.max(iterations, k + 1);
      const halve = schedule.checkpoint(k + 1);
      if (halve?.some((v) => v)) {
        // The halved examples go on from their best point (its validity is re-derived at the next step).
        const m = tf.tensor1d(halve);
        const sel = (u: tf.Tensor, v: tf.Tensor) => tf.tidy(() => tf.add(u, scaleRows(tf.sub(v, u), m)));
        const nc = sel(cur, xBest);
        const ng = sel(grad, gBest);
        const np = sel(prev, xBest);
        tf.dispose([m, cur, grad, prev]);
        cur = nc;
        grad = ng;
        prev = np;
      }
      run.onIteration?.(it++, idx.length);
    }
    tf.dispose([cur, prev, grad, xBest, gBest, x0, ya, ...(ta ? [ta] : [])]);
  }
  mask.dispose();
  return tracker.result(threat, iterations);
}

/**
 * CAPGD, the constrained adaptive PGD of Simonetto et al. (2024, "Constrained adaptive attacks:
 * realistic evaluation of adversarial examples and robust training of deep neural networks for
 * tabular data", the gradient half of CAA/TabularBench) under an L2 or L∞ ball: see
 * {@link capgdPerturb}. Every record it reports as adversarial is valid in the classifier's
 * domain; on a plain box it is APGD-CE started at the clean input. One query per step.
 *
 * @example
 * ```ts
 * const r = await new Capgd({ steps: 30 }).run(clf, x, y, { threat: parseThreat('l2:0.5'), seed: 0 });
 * ```
 */
export class Capgd extends CheckedAttack<CapgdParams> {
  constructor(params: Partial<CapgdParams> = {}) {
    super('capgd', CAPGD_SUPPORT, CAPGD_DEFAULTS, params);
    checkParams(this.params);
  }

  protected async attack(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, ctx: AttackContext): Promise<AttackResult> {
    return capgdPerturb(clf, x, y, ctx.threat, this.params, { seed: ctx.seed, indices: ctx.indices, target: ctx.target, onIteration: ctx.opts.onIteration });
  }
}
