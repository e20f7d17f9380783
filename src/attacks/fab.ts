import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../model/classifier.js';
import { boundsOf } from '../data/domain.js';
import { lpThreat, scaleRows, type ThreatModel } from '../threat/threat-model.js';
import { clipToDomain } from '../threat/domain-clip.js';
import type { AttackSupport } from './support.js';
import { CheckedAttack, type AttackContext } from './checked.js';
import { isSuccess } from './losses.js';
import { AttackTracker } from './tracker.js';
import { classGradients, enforceBudget, topOtherClasses, type MinimalNormResult } from './minimal-norm.js';
import { UserError } from '../errors.js';
import { deriveSeed } from '../data/rng.js';
import { fabStep } from './fab-step.js';

export { projectBoxHyperplane } from './box-hyperplane.js';

/**
 * Hyperparameters of {@link Fab}.
 *
 * @example
 * ```ts
 * const params: Partial<FabParams> = { steps: 100, restarts: 5 };
 * const fab = new Fab(params);
 * ```
 */
export type FabParams = {
  /** Iterations per restart. Default 100. */
  steps: number;
  /** Runs; the first starts at x, later ones at a random point at half the best distance so far (capped by ε). Default 1. */
  restarts: number;
  /** Largest weight of the step from the original point (bias towards x). Default 0.1. */
  alphaMax: number;
  /** Overshoot of the projection step. Default 1.05. */
  eta: number;
  /** Backward step after a success: x ← (1 − β)·x_orig + β·x. Default 0.9. */
  beta: number;
  /** Untargeted: number of most likely other classes whose boundaries are linearised each step. Default 9. */
  candidates: number;
};

export const FAB_DEFAULTS: FabParams = { steps: 100, restarts: 1, alphaMax: 0.1, eta: 1.05, beta: 0.9, candidates: 9 };

function checkParams(p: FabParams): void {
  if (!Number.isInteger(p.steps) || p.steps < 1) throw new UserError(`fab steps must be a positive integer (got ${p.steps})`);
  if (!Number.isInteger(p.restarts) || p.restarts < 1) throw new UserError(`fab restarts must be a positive integer (got ${p.restarts})`);
  if (!(p.alphaMax >= 0 && p.alphaMax <= 1)) throw new UserError(`fab alphaMax must lie in [0, 1] (got ${p.alphaMax})`);
  if (!(p.eta >= 1)) throw new UserError(`fab eta must be ≥ 1 (got ${p.eta})`);
  if (!(p.beta > 0 && p.beta <= 1)) throw new UserError(`fab beta must lie in (0, 1] (got ${p.beta})`);
  if (!Number.isInteger(p.candidates) || p.candidates < 1) throw new UserError(`fab candidates must be a positive integer (got ${p.candidates})`);
}

/** The threats, model access and hyperparameters of {@link Fab}. */
export const FAB_SUPPORT: AttackSupport = { norms: ['linf', 'l2', 'l1'], access: 'gradient', params: ['steps', 'restarts', 'alphaMax', 'eta', 'beta', 'candidates'] };
/**
 * FAB, the Fast Adaptive Boundary attack (Croce & Hein, ICML 2020): a minimal-norm attack in
 * Linf, L2 or L1. Each step linearises the classifier at the current point, picks the closest
 * linearised decision hyperplane, projects both the current point and the original input onto it
 * within the domain box (exactly, see {@link projectBoxHyperplane}), and moves to a convex
 * combination of the two projections (weight α ≤ alphaMax on the original, overshoot η). After a
 * success it steps back towards the original (β), so the iterates track the boundary from both
 * sides and the distance shrinks. Targeted mode (FAB-T) linearises f_target − f_c against the
 * strongest competitor c. The result honours the budget ε (an example whose closest point lies
 * beyond ε fails unless its projection onto the ball is adversarial); `minDistance` reports the
 * distance found. Cost per step: `candidates` + 1 queries untargeted, 2 targeted.
 *
 * @example
 * ```ts
 * const r = await new Fab({ steps: 100 }).run(clf, x, y, { threat: parseThreat('l2:2'), seed: 0 });
 * console.log(r.success, r.minDistance);
 * ```
 */
export class Fab extends CheckedAttack<FabParams, ThreatModel, MinimalNormResult> {

  constructor(params: Partial<FabParams> = {}) {
    super('fab', FAB_SUPPORT, FAB_DEFAULTS, params);
    checkParams(this.params);
  }

  protected async attack(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, ctx: AttackContext): Promise<MinimalNormResult> {
    const { threat, target, seed, indices, opts } = ctx;
    const p = this.params;
    const norm = threat.norm;
    const b = x.shape[0]!;
    const d = x.size / b;
    const m = target ? 1 : Math.min(p.candidates, clf.numClasses - 1);
    if (m < 1) throw new UserError('fab needs a classifier with at least 2 classes');
    const lo = new Float64Array(d);
    const hi = new Float64Array(d);
    for (let j = 0; j < d; j++) [lo[j], hi[j]] = boundsOf(clf.domain, j);
    const tracker = new AttackTracker(x, 'min');
    const all = tracker.activeIndices();
    const x0h = x.dataSync();
    const cand = target ? undefined : tf.tidy(() => topOtherClasses(clf.logits(x), y, m));
    tracker.count(all);
    const best = new Float64Array(b).fill(Infinity);
    let iterations = 0;
    let it = 0;
    for (let r = 0; r < p.restarts; r++) {
      // Start: x itself, then random points at half the best distance so far (capped by ε).
      let cur: tf.Tensor;
      if (r === 0) cur = x.clone();
      else {
        const radius = Float32Array.from(best, (v) => 0.5 * Math.min(v, threat.eps));
        for (let i = 0; i < b; i++) if (!Number.isFinite(radius[i]!)) radius[i] = 0;
        cur = tf.tidy(() => {
          const u = lpThreat(norm, 1).randomStart(tf.zerosLike(x), { lower: -Infinity, upper: Infinity }, deriveSeed(seed, 'fab-restart', r), indices);
          return clipToDomain(tf.add(x, scaleRows(u, tf.tensor1d(radius))), clf.domain);
        });
      }
      const logits0 = clf.logits(cur);
      tracker.count(all);
      const offerAt = (pt: tf.Tensor, z: tf.Tensor2D): Uint8Array => {
        const [ok, dist] = tf.tidy(() => [isSuccess(z, y, target), threat.distance(pt, x)]);
        const okd = ok.dataSync() as Uint8Array;
        const dd = dist.dataSync();
        tracker.offer(all, pt, okd, dd);
        for (let i = 0; i < b; i++) if (okd[i] && dd[i]! < best[i]!) best[i] = dd[i]!;
        tf.dispose([ok, dist]);
        return okd;
      };
      offerAt(cur, logits0);
      logits0.dispose();
      for (let s = 0; s < p.steps; s++, it++) {
        // The class each linearised difference is taken against: y (untargeted), or the strongest
        // class other than the target at the current point (read from the same pass's logits).
        const base = target ? (z: tf.Tensor2D) => tf.cast(tf.argMax(tf.sub(z, tf.mul(tf.oneHot(target, z.shape[1]), 1e9)), 1), 'int32') as tf.Tensor1D : y;
        const others = target ? (tf.reshape(target, [b, 1]) as tf.Tensor2D) : cand!;
        const g = classGradients(clf, cur, base, others);
        tracker.count(all, m);
        const gh = g.grads.dataSync() as Float32Array;
        const dh = g.diff.dataSync();
        const ch = cur.dataSync();
        tf.dispose([g.logits, g.diff, g.grads]);
        if (target) others.dispose();
        const next = new Float32Array(b * d);
        fabStep({ norm, alphaMax: p.alphaMax, eta: p.eta, b, m, d, grads: gh, diff: dh as Float32Array, cur: ch as Float32Array, x0: x0h as Float32Array, lo, hi }, next);
        cur.dispose();
        cur = tf.tidy(() => clipToDomain(tf.tensor(next, x.shape), clf.domain));
        const logits = clf.logits(cur);
        tracker.count(all);
        const okd = offerAt(cur, logits);
        logits.dispose();
        // Backward step for the examples that crossed the boundary.
        if (okd.some((f) => f)) {
          const back = Float32Array.from(okd, (f) => (f ? p.beta : 1));
          const moved = tf.tidy(() => tf.add(x, scaleRows(tf.sub(cur, x), tf.tensor1d(back))));
          cur.dispose();
          cur = moved;
        }
        iterations = Math.max(iterations, s + 1);
        opts.onIteration?.(it, b);
      }
      cur.dispose();
    }
    cand?.dispose();
    return enforceBudget(clf, x, y, target, threat, tracker.result(threat, iterations));
  }
}
