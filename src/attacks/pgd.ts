import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../model/classifier.js';
import type { ThreatModel } from '../threat/threat-model.js';
import type { AttackResult } from './attack.js';
import type { AttackSupport } from './support.js';
import { CheckedAttack, type AttackContext } from './checked.js';
import { probe } from './gradient.js';
import { pgdStep } from './pgd-step.js';
import { deriveSeed } from '../data/rng.js';
import { attackObjective, type AttackLoss } from './losses.js';
import { AttackTracker, remaining, shrinkRows } from './tracker.js';
import { UserError } from '../errors.js';
import type { Domain } from '../data/domain.js';

const UNBOUNDED: Domain = { lower: -Infinity, upper: Infinity };

/**
 * Hyperparameters of {@link Pgd}.
 *
 * @example
 * ```ts
 * const params: Partial<PgdParams> = { steps: 50, restarts: 10, stepSize: 0.01 };
 * const pgd = new Pgd(params);
 * ```
 */
export type PgdParams = {
  /** Gradient steps per restart. Default 40. */
  steps: number;
  /** Step length in the threat's norm. Default 2.5·ε/steps (Madry et al.). */
  stepSize?: number;
  /** Independent runs; each example keeps its first success. Default 1. */
  restarts: number;
  /** Start from a uniform random point of the ball (else from x). Default true. */
  randomStart: boolean;
  /** Objective: cross-entropy, CW margin or DLR. Default 'ce'. */
  loss: AttackLoss;
  /** MI-FGSM momentum decay μ (0: plain PGD). Default 0. */
  momentum: number;
};

export const PGD_DEFAULTS: PgdParams = { steps: 40, restarts: 1, randomStart: true, loss: 'ce', momentum: 0 };

function checkParams(p: PgdParams): void {
  if (!Number.isInteger(p.steps) || p.steps < 1) throw new UserError(`--steps must be a positive integer (got ${p.steps})`);
  if (!Number.isInteger(p.restarts) || p.restarts < 1) throw new UserError(`--restarts must be a positive integer (got ${p.restarts})`);
  if (p.stepSize !== undefined && !(p.stepSize > 0)) throw new UserError(`--step-size must be positive (got ${p.stepSize})`);
  if (!(p.momentum >= 0)) throw new UserError(`momentum must be ≥ 0 (got ${p.momentum})`);
}

/** The step length a PGD run uses. */
export function pgdStepSize(p: Pick<PgdParams, 'steps' | 'stepSize'>, threat: ThreatModel): number {
  return p.stepSize ?? (2.5 * threat.eps) / p.steps;
}

/** Momentum update of MI-FGSM: g ← μ·g + ∇/‖∇‖₁ (per example). */
function momentumGrad(prev: tf.Tensor | undefined, grad: tf.Tensor, mu: number): tf.Tensor {
  return tf.tidy(() => {
    const b = grad.shape[0]!;
    const l1 = tf.reshape(tf.sum(tf.abs(tf.reshape(grad, [b, -1])), 1), [b, ...grad.shape.slice(1).map(() => 1)]);
    const g = tf.div(grad, tf.maximum(l1, 1e-12));
    return prev ? tf.add(tf.mul(prev, mu), g) : g;
  });
}

/** The threats, model access and hyperparameters of {@link Pgd}. */
export const PGD_SUPPORT: AttackSupport = { norms: ['linf', 'l2', 'l1'], access: 'gradient', params: ['steps', 'stepSize', 'restarts', 'randomStart', 'loss', 'momentum'] };
/**
 * Projected gradient descent (Madry et al. 2018) in any norm of the ThreatModel (Linf: signed
 * steps; L2: normalised steps; L1: sparse L1 descent), with random start, restarts, targeted
 * mode, a choice of loss, and optional momentum (MI-FGSM, Dong et al. 2018). Stops early per
 * example: a broken example leaves the active batch.
 *
 * @example
 * ```ts
 * const r = await new Pgd({ steps: 50, restarts: 10, stepSize: 0.01 }).run(clf, x, y, { threat: parseThreat('linf:0.3'), seed: 0 });
 * ```
 */
export class Pgd extends CheckedAttack<PgdParams> {

  constructor(params: Partial<PgdParams> = {}, name = 'pgd') {
    super(name, PGD_SUPPORT, PGD_DEFAULTS, params);
    checkParams(this.params);
  }

  protected async attack(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, ctx: AttackContext): Promise<AttackResult> {
    const { threat, target, seed, indices, opts } = ctx;
    const p = this.params;
    const alpha = pgdStepSize(p, threat);
    const tracker = new AttackTracker(x);
    let iterations = 0;
    for (let r = 0; r < p.restarts; r++) {
      let idx = tracker.activeIndices();
      if (idx.length === 0) break;
      const idxT = () => tf.tensor1d(Array.from(idx), 'int32');
      let x0 = tf.tidy(() => tf.gather(x, idxT()));
      let ya = tf.tidy(() => tf.gather(y, idxT())) as tf.Tensor1D;
      let ta = target ? (tf.tidy(() => tf.gather(target, idxT())) as tf.Tensor1D) : undefined;
      let cur = p.randomStart ? threat.randomStart(x0, clf.domain, deriveSeed(seed, 'pgd-start', r), Int32Array.from(idx, (k) => indices[k]!)) : x0.clone();
      let mom: tf.Tensor | undefined;
      for (let s = 0; s <= p.steps && idx.length > 0; s++) {
        const pr = probe(clf, cur, ya, p.loss, ta);
        tracker.count(idx);
        const flags = pr.success.dataSync();
        const done = tracker.offer(idx, cur, flags, undefined, pr.objective.dataSync());
        let next: tf.Tensor | undefined;
        if (s < p.steps) {
          let dir = pr.grad;
          if (p.momentum > 0) {
            const m = momentumGrad(mom, pr.grad, p.momentum);
            mom?.dispose();
            mom = m;
            dir = m;
          }
          next = pgdStep(threat, cur, x0, dir, alpha, clf.domain);
          iterations = Math.max(iterations, s + 1);
        }
        tf.dispose([pr.logits, pr.objective, pr.success, pr.grad, cur]);
        cur = next ?? cur;
        const keep = remaining(done);
        if (keep.length < idx.length) {
          idx = Int32Array.from(keep, (k) => idx[k]!);
          const shrink = <T extends tf.Tensor>(t: T): T => shrinkRows(t, keep);
          if (next) cur = shrink(cur);
          x0 = shrink(x0);
          ya = shrink(ya);
          if (ta) ta = shrink(ta);
          if (mom) mom = shrink(mom);
        }
        opts.onIteration?.(s, idx.length);
        if (!next) break;
      }
      tf.dispose([x0, ya, ...(ta ? [ta] : []), ...(mom ? [mom] : [])]);
      if (!cur.isDisposed) cur.dispose();
    }
    return tracker.result(threat, iterations);
  }
}

/**
 * Tensor-only PGD for training loops: no early stop, no host reads, returns x_adv (caller
 * disposes). The same steps as {@link Pgd} with one restart.
 *
 * @example
 * ```ts
 * const xAdv = pgdPerturb(clf, xs, labels, parseThreat('linf:0.3'), { steps: 10, stepSize: 0.01, randomStart: true, loss: 'ce', seed: 1 });
 * ```
 */
export function pgdPerturb(
  clf: Classifier,
  x: tf.Tensor,
  y: tf.Tensor1D,
  threat: ThreatModel,
  p: {
    steps: number;
    stepSize: number;
    randomStart: boolean;
    loss: AttackLoss;
    seed: number;
    target?: tf.Tensor1D;
    /**
     * Clip the random start into the domain before the first gradient (default true). Wong et
     * al.'s reference FGSM-RS takes the first gradient at the unclipped x + δ and clips only the
     * result; on MNIST, whose background sits at the bound 0, clipping first halves the start's
     * noise and leads to catastrophic overfitting at ε = 0.3.
     */
    clipStart?: boolean;
  },
): tf.Tensor {
  const startDomain = p.clipStart === false ? UNBOUNDED : clf.domain;
  let cur = p.randomStart ? threat.randomStart(x, startDomain, p.seed) : x.clone();
  const gradFn = tf.grad((xi: tf.Tensor) => tf.sum(attackObjective(p.loss, clf.logits(xi), y, p.target)) as tf.Scalar);
  for (let s = 0; s < p.steps; s++) {
    const next = tf.tidy(() => pgdStep(threat, cur, x, gradFn(cur), p.stepSize, clf.domain));
    cur.dispose();
    cur = next;
  }
  return cur;
}
