import * as tf from '@tensorflow/tfjs-core';
// tfjs-layers' bundle registers the gradients of every core op (tfjs-core's own ESM registration file cannot load in Node).
import '@tensorflow/tfjs-layers';
import type { Classifier } from '../model/classifier.js';
import { batchNorm, type ThreatModel } from '../threat/threat-model.js';
import { clipToDomain } from '../threat/domain-clip.js';
import type { AttackSupport } from './support.js';
import { CheckedAttack, type AttackContext } from './checked.js';
import { isSuccess } from './losses.js';
import { AttackTracker, remaining, shrinkRows } from './tracker.js';
import { UserError } from '../errors.js';
import { classGradients, dualNorm, enforceBudget, shrinkToBoundary, topOtherClasses, type MinimalNormResult } from './minimal-norm.js';

export type { MinimalNormResult } from './minimal-norm.js';

/**
 * Hyperparameters of {@link DeepFool}.
 *
 * @example
 * ```ts
 * const params: Partial<DeepFoolParams> = { steps: 50, overshoot: 0.02 };
 * const deepfool = new DeepFool(params);
 * ```
 */
export type DeepFoolParams = {
  /** Maximum linearisation steps. Default 50. */
  steps: number;
  /** The accumulated step is scaled by (1 + overshoot) to cross the boundary. Default 0.02. */
  overshoot: number;
  /** Number of most likely other classes whose boundaries are considered. Default 10. */
  candidates: number;
  /** Bisection steps that pull a found adversarial point back towards x (0: off, as in the paper). Default 0. */
  refineSteps: number;
};

export const DEEPFOOL_DEFAULTS: DeepFoolParams = { steps: 50, overshoot: 0.02, candidates: 10, refineSteps: 0 };

function checkParams(p: DeepFoolParams): void {
  if (!Number.isInteger(p.steps) || p.steps < 1) throw new UserError(`deepfool steps must be a positive integer (got ${p.steps})`);
  if (!(p.overshoot >= 0)) throw new UserError(`deepfool overshoot must be ≥ 0 (got ${p.overshoot})`);
  if (!Number.isInteger(p.candidates) || p.candidates < 1) throw new UserError(`deepfool candidates must be a positive integer (got ${p.candidates})`);
  if (!Number.isInteger(p.refineSteps) || p.refineSteps < 0) throw new UserError(`deepfool refineSteps must be an integer ≥ 0 (got ${p.refineSteps})`);
}

/** The threats, model access and hyperparameters of {@link DeepFool}. */
export const DEEPFOOL_SUPPORT: AttackSupport = { norms: ['linf', 'l2', 'l1'], access: 'gradient', params: ['steps', 'overshoot', 'candidates', 'refineSteps'] };
/**
 * DeepFool (Moosavi-Dezfooli, Fawzi & Frossard, CVPR 2016): a minimal-norm attack that linearises
 * the classifier at the current point, steps onto the nearest linearised boundary among the
 * `candidates` most likely classes, and repeats until the label flips; the accumulated step is
 * scaled by (1 + overshoot). Works in the threat's norm (L2; Linf; L1 by the same dual-norm rule).
 * Box-aware: the accumulated perturbation stays inside the domain, and gradient components that
 * point out of the box at a coordinate sitting on a bound are dropped from the linearisation.
 * Each example stops at its first success. With a budget ε, an example whose point lies farther
 * than ε is projected onto the ball and succeeds only if that point is still adversarial; the
 * distance it needed is in `minDistance`. Untargeted only. One iteration costs `candidates`
 * queries (a forward and backward pass per class).
 *
 * @example
 * ```ts
 * const r = await new DeepFool({ steps: 50 }).run(clf, x, y, { threat: parseThreat('l2:100') });
 * console.log(r.minDistance); // the L2 distortion DeepFool needed, per example
 * ```
 */
export class DeepFool extends CheckedAttack<DeepFoolParams, ThreatModel, MinimalNormResult> {

  constructor(params: Partial<DeepFoolParams> = {}) {
    super('deepfool', DEEPFOOL_SUPPORT, DEEPFOOL_DEFAULTS, params);
    checkParams(this.params);
  }

  protected async attack(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, ctx: AttackContext): Promise<MinimalNormResult> {
    const { threat, opts } = ctx;
    const p = this.params;
    if (opts.targeted) throw new UserError('deepfool is untargeted: use fab or cw-l2 for targeted minimal-norm attacks');
    const q = dualNorm(threat.norm);
    const m = Math.min(p.candidates, clf.numClasses - 1);
    if (m < 1) throw new UserError('deepfool needs a classifier with at least 2 classes');
    // 'min' mode so that the refinement below may replace a point by a closer one; each example
    // still leaves the active batch at its first success.
    const tracker = new AttackTracker(x, 'min');
    let idx = tracker.activeIndices();
    let x0 = x.clone();
    let ya = y.clone();
    let cand = tf.tidy(() => topOtherClasses(clf.logits(x), y, m));
    tracker.count(idx);
    let rtot = tf.zerosLike(x);
    // The domain's bounds as tensors of one example's shape.
    const lowerB = tf.tidy(() => clipToDomain(tf.fill([1, ...x.shape.slice(1)], -Number.MAX_VALUE), clf.domain));
    const upperB = tf.tidy(() => clipToDomain(tf.fill([1, ...x.shape.slice(1)], Number.MAX_VALUE), clf.domain));
    let cur = x.clone();
    let iterations = 0;
    for (let s = 0; s <= p.steps && idx.length > 0; s++) {
      if (s === p.steps) {
        const [ok, dist] = tf.tidy(() => [isSuccess(clf.logits(cur), ya), threat.distance(cur, x0)]);
        tracker.count(idx);
        tracker.offer(idx, cur, ok.dataSync(), dist.dataSync());
        tf.dispose([ok, dist]);
        break;
      }
      const g = classGradients(clf, cur, ya, cand);
      tracker.count(idx, m);
      const ok = isSuccess(g.logits, ya);
      const closeness = tf.max(g.diff, 1);
      const dist = threat.distance(cur, x0);
      const done = ok.dataSync();
      tracker.offer(idx, cur, done, dist.dataSync(), closeness.dataSync());
      const step = tf.tidy(() => {
        const b = g.grads.shape[0];
        // Box-aware linearisation: a coordinate at a bound cannot move outwards, so its gradient
        // component in that direction is dropped (else the clipped steps stall on images whose
        // pixels sit at 0 or 1).
        const flatCur = tf.reshape(cur, [b, 1, -1]);
        const atLo = tf.lessEqual(flatCur, tf.reshape(lowerB, [1, 1, -1]));
        const atHi = tf.greaterEqual(flatCur, tf.reshape(upperB, [1, 1, -1]));
        const zero = tf.zerosLike(g.grads);
        const blocked = tf.logicalOr(tf.logicalAnd(atLo, tf.less(g.grads, 0)), tf.logicalAnd(atHi, tf.greater(g.grads, 0)));
        const grads = tf.where(blocked, zero, g.grads);
        const gn = tf.reshape(batchNorm(tf.reshape(grads, [b * m, -1]), q), [b, m]);
        const ratio = tf.div(tf.abs(g.diff), tf.add(gn, 1e-12));
        const pick = m === 1 ? tf.onesLike(ratio) : tf.oneHot(tf.argMin(ratio, 1), m);
        const w = tf.sum(tf.mul(grads, tf.expandDims(pick, 2)), 1) as tf.Tensor2D;
        const f = tf.abs(tf.sum(tf.mul(g.diff, pick), 1));
        const wn = tf.add(tf.sum(tf.mul(gn, pick), 1), 1e-12);
        let r: tf.Tensor2D;
        if (threat.norm === 'l2') r = tf.mul(w, tf.expandDims(tf.div(f, tf.square(wn)), 1));
        else if (threat.norm === 'linf') r = tf.mul(tf.sign(w), tf.expandDims(tf.div(f, wn), 1));
        else {
          const top = tf.oneHot(tf.argMax(tf.abs(w), 1), w.shape[1]);
          r = tf.mul(tf.mul(tf.sign(w), top), tf.expandDims(tf.div(f, wn), 1));
        }
        return tf.reshape(r, cur.shape);
      });
      tf.dispose([g.logits, g.diff, g.grads, ok, closeness, dist]);
      // The accumulated perturbation is kept inside the box, so later steps can move back inwards.
      const nextTot = tf.tidy(() => tf.sub(clipToDomain(tf.add(x0, tf.add(rtot, step)), clf.domain), x0));
      const next = tf.tidy(() => clipToDomain(tf.add(x0, tf.mul(nextTot, 1 + p.overshoot)), clf.domain));
      tf.dispose([step, rtot, cur]);
      rtot = nextTot;
      cur = next;
      iterations = s + 1;
      const keep = remaining(done);
      if (keep.length < idx.length) {
        idx = Int32Array.from(keep, (k) => idx[k]!);
        const shrink = <T extends tf.Tensor>(t: T): T => shrinkRows(t, keep);
        cur = shrink(cur);
        rtot = shrink(rtot);
        x0 = shrink(x0);
        ya = shrink(ya);
        cand = shrink(cand);
      }
      opts.onIteration?.(s, idx.length);
    }
    tf.dispose([cur, rtot, x0, ya, cand, lowerB, upperB]);
    let r = tracker.result(threat, iterations);
    if (p.refineSteps > 0) {
      const ok = Int32Array.from(Array.from(r.success.keys()).filter((i) => r.success[i]));
      if (ok.length > 0) {
        const shrunk = tf.tidy(() => {
          const it = tf.tensor1d(ok, 'int32');
          return shrinkToBoundary(clf, tf.gather(x, it), tf.gather(r.xAdv, it), tf.gather(y, it) as tf.Tensor1D, undefined, p.refineSteps);
        });
        const d = tf.tidy(() => threat.distance(shrunk, tf.gather(x, tf.tensor1d(ok, 'int32'))));
        tracker.offer(ok, shrunk, new Uint8Array(ok.length).fill(1), d.dataSync());
        tracker.count(ok, p.refineSteps);
        tf.dispose([shrunk, d]);
        r.xAdv.dispose();
        r = tracker.result(threat, iterations);
      }
    }
    return enforceBudget(clf, x, y, undefined, threat, r);
  }
}
