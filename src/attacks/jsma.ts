import * as tf from '@tensorflow/tfjs-core';
// tfjs-layers' bundle registers the gradients of every core op (tfjs-core's own ESM registration file cannot load in Node).
import '@tensorflow/tfjs-layers';
import type { Classifier } from '../model/classifier.js';
import type { Domain } from '../data/domain.js';
import { clipToDomain } from '../threat/domain-clip.js';
import type { AttackResult } from './attack.js';
import type { AttackSupport } from './support.js';
import { CheckedAttack, type AttackContext } from './checked.js';
import { attackObjective, isSuccess } from './losses.js';
import { AttackTracker, remaining, shrinkRows } from './tracker.js';
import { UserError } from '../errors.js';

/**
 * Hyperparameters of {@link Jsma}.
 *
 * @example
 * ```ts
 * const params: Partial<JsmaParams> = { theta: 1, gamma: 0.1 };
 * const jsma = new Jsma(params);
 * ```
 */
export type JsmaParams = {
  /**
   * Change applied to each chosen feature, as a fraction of its range (upper − lower); the sign
   * is the direction. Default +1: chosen features jump to their upper bound (Papernot et al.'s θ = +1).
   */
  theta: number;
  /** Largest fraction of the features that may change (γ). Default 0.1. The threat's l0 budget caps it too. */
  gamma: number;
  /**
   * Pair search width: the pair maximising the saliency is searched among the `pairCandidates`
   * features of largest single-feature saliency θ·(α_i − β_i) (all features when ≥ the input size).
   * Default 128: 128² = 16,384 pairs per example and step instead of 784² = 614,656 on MNIST.
   */
  pairCandidates: number;
};

export const JSMA_DEFAULTS: JsmaParams = { theta: 1, gamma: 0.1, pairCandidates: 128 };

/** Largest [rows × K × K] pair-score block held at once (floats). */
const PAIR_BLOCK = 1 << 22;

function checkParams(p: JsmaParams): void {
  if (!(Number.isFinite(p.theta) && p.theta !== 0)) throw new UserError(`jsma theta must be a non-zero number (got ${p.theta}); +1 raises features to their maximum`);
  if (!(p.gamma > 0 && p.gamma <= 1)) throw new UserError(`jsma gamma (largest fraction of features changed) must be in (0, 1] (got ${p.gamma})`);
  if (!Number.isInteger(p.pairCandidates) || p.pairCandidates < 2) throw new UserError(`jsma pairCandidates must be an integer ≥ 2 (got ${p.pairCandidates})`);
}

/** Per-row chosen feature pair and whether the row still had two features to change. */
type PairChoice = {
  p: tf.Tensor1D;
  q: tf.Tensor1D;
  ok: tf.Tensor1D;
};

/**
 * Picks, per row, the pair (p, q) of allowed features maximising the saliency
 * α·|β| subject to α > 0, β < 0 (α = Σ_pair θ·∂Z_t/∂x_i, β = Σ_pair θ·Σ_{j≠t} ∂Z_j/∂x_i), among
 * the `k` features of largest single-feature saliency α_i − β_i. When no pair meets the sign
 * conditions, it takes the pair of largest α − β (the first-order gain of Z_t − Σ_{j≠t} Z_j) instead
 * of giving up.
 */
function selectPairs(alpha: tf.Tensor2D, beta: tf.Tensor2D, mask: tf.Tensor2D, k: number): PairChoice {
  return tf.tidy(() => {
    const [n, d] = alpha.shape;
    const K = Math.min(k, d);
    let cand: tf.Tensor2D;
    let aK: tf.Tensor2D;
    let bK: tf.Tensor2D;
    let mK: tf.Tensor2D;
    if (K < d) {
      const rank = tf.where(tf.greater(mask, 0), tf.sub(alpha, beta), tf.fill([n, d], -Infinity));
      cand = tf.topk(rank, K).indices as tf.Tensor2D;
      const flatIdx = tf.reshape(tf.add(cand, tf.reshape(tf.mul(tf.range(0, n, 1, 'int32'), tf.scalar(d, 'int32')), [n, 1])), [n * K]);
      const pick = (t: tf.Tensor2D) => tf.reshape(tf.gather(tf.reshape(t, [n * d]), flatIdx), [n, K]) as tf.Tensor2D;
      aK = pick(alpha);
      bK = pick(beta);
      mK = pick(mask);
    } else {
      cand = tf.tile(tf.reshape(tf.range(0, d, 1, 'int32'), [1, d]), [n, 1]) as tf.Tensor2D;
      [aK, bK, mK] = [alpha, beta, mask];
    }
    const notDiag = tf.sub(1, tf.reshape(tf.eye(K), [1, K, K]));
    const ks: tf.Tensor1D[] = [];
    const chunk = Math.max(1, Math.floor(PAIR_BLOCK / (K * K)));
    for (let r0 = 0; r0 < n; r0 += chunk) {
      const m = Math.min(chunk, n - r0);
      ks.push(
        tf.tidy(() => {
          const part = (t: tf.Tensor2D) => tf.slice(t, [r0, 0], [m, K]);
          const a = part(aK);
          const b = part(bK);
          const mm = part(mK);
          const aP = tf.add(tf.expandDims(a, 2), tf.expandDims(a, 1));
          const bP = tf.add(tf.expandDims(b, 2), tf.expandDims(b, 1));
          const allowed = tf.greater(tf.mul(tf.mul(tf.expandDims(mm, 2), tf.expandDims(mm, 1)), notDiag), 0);
          const valid = tf.logicalAnd(allowed, tf.logicalAnd(tf.greater(aP, 0), tf.less(bP, 0)));
          const primary = tf.reshape(tf.where(valid, tf.mul(aP, tf.neg(bP)), tf.fill([m, K, K], -1)), [m, K * K]);
          const fallback = tf.reshape(tf.where(allowed, tf.sub(aP, bP), tf.fill([m, K, K], -Infinity)), [m, K * K]);
          const usePrimary = tf.greater(tf.max(primary, 1), 0);
          return tf.where(usePrimary, tf.argMax(primary, 1), tf.argMax(fallback, 1)) as tf.Tensor1D;
        }),
      );
    }
    const best = ks.length === 1 ? ks[0]! : tf.concat(ks);
    const i = tf.floorDiv(best, tf.scalar(K, 'int32'));
    const j = tf.sub(best, tf.mul(i, tf.scalar(K, 'int32')));
    const at = (col: tf.Tensor) => tf.reshape(tf.gather(tf.reshape(cand, [n * K]), tf.add(tf.mul(tf.range(0, n, 1, 'int32'), tf.scalar(K, 'int32')), col)), [n]) as tf.Tensor1D;
    return { p: at(i), q: at(j), ok: tf.greaterEqual(tf.sum(mask, 1), 2) as tf.Tensor1D };
  });
}

/** Per-feature range (upper − lower) as a tensor broadcastable to [n, d]. */
function rangeOf(domain: Domain, d: number): tf.Tensor {
  const lo = domain.lower;
  const hi = domain.upper;
  if (typeof lo === 'number' && typeof hi === 'number') return tf.scalar(hi - lo);
  const out = new Float32Array(d);
  for (let i = 0; i < d; i++) {
    const l = typeof lo === 'number' ? lo : lo[i % lo.length]!;
    const h = typeof hi === 'number' ? hi : hi[i % hi.length]!;
    out[i] = h - l;
  }
  return tf.tensor2d(out, [1, d]);
}

/** The threats, model access and hyperparameters of {@link Jsma}. */
export const JSMA_SUPPORT: AttackSupport = { norms: ['l0'], access: 'gradient', params: ['theta', 'gamma', 'pairCandidates'] };
/**
 * Jacobian-based Saliency Map Attack (Papernot et al. 2016, "The Limitations of Deep Learning in
 * Adversarial Settings", EuroS&P), an L0 attack: it changes few features by a lot. Each step it
 * computes the gradients of the target logit (α) and of the sum of the other logits (β) and
 * raises (θ > 0) the pair of features whose joint saliency α·|β| with α > 0, β < 0 is largest, to
 * its bound; changed features leave the search. It stops per example at the first success or when
 * the budget is spent: min(⌊γ·d⌋, the threat's l0 budget) features (pairs, so an even number).
 *
 * Targeted by default in the paper; here `targeted` with `targets` aims at given classes, and the
 * untargeted variant aims each example at its runner-up class (largest other logit of the clean
 * input) and succeeds on any misclassification. Gradients are of logits (as in Carlini & Wagner's
 * variant; softmax outputs saturate). The pair search is the original pairwise one, over the
 * `pairCandidates` features of largest single-feature saliency (see {@link JsmaParams}).
 *
 * Queries: each step costs 2 per example (one forward+backward for α, one for the sum of all
 * logits, stacked in one batch); the untargeted variant adds 1 to pick the target.
 *
 * @example
 * ```ts
 * const r = await new Jsma({ gamma: 0.1 }).run(clf, x, y, { threat: lpThreat('l0', 78), targeted: true, targets });
 * console.log(r.success, r.distance); // distance: number of changed pixels
 * ```
 */
export class Jsma extends CheckedAttack<JsmaParams> {

  constructor(params: Partial<JsmaParams> = {}) {
    super('jsma', JSMA_SUPPORT, JSMA_DEFAULTS, params);
    checkParams(this.params);
  }

  protected async attack(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, ctx: AttackContext): Promise<AttackResult> {
    const { threat } = ctx;
    const p = this.params;
    const n = x.shape[0]!;
    const shape = x.shape.slice(1);
    const d = x.size / n;
    const budget = Math.min(Math.floor(threat.eps), Math.floor(p.gamma * d));
    const maxSteps = Math.floor(budget / 2);
    const tracker = new AttackTracker(x);
    const sgn = Math.sign(p.theta);

    // Untargeted: aim at the runner-up class of the clean input (one query).
    const target: tf.Tensor1D = ctx.target
      ? ctx.target.clone()
      : tf.tidy(() => {
          const z = clf.logits(x);
          return tf.argMax(tf.sub(z, tf.mul(tf.oneHot(y, z.shape[1]), 1e9)), 1) as tf.Tensor1D;
        });
    if (!ctx.target) tracker.count(Int32Array.from({ length: n }, (_, i) => i));
    const successTarget = ctx.target ? target : undefined;

    const step = tf.tidy(() => tf.mul(rangeOf(clf.domain, d), p.theta));
    let idx = tracker.activeIndices();
    let xc = tf.tidy(() => tf.reshape(x, [n, d]).clone()) as tf.Tensor2D;
    // Search domain: features that can still move in θ's direction.
    let mask = tf.tidy(() => {
      const moved = clipToDomain(tf.reshape(tf.add(xc, step), x.shape), clf.domain);
      return tf.cast(tf.greater(tf.abs(tf.sub(tf.reshape(moved, [n, d]), xc)), 0), 'float32');
    }) as tf.Tensor2D;
    let ya = y.clone();
    let ta = target.clone();
    let iterations = 0;
    for (let s = 0; s <= maxSteps && idx.length > 0; s++) {
      const m = idx.length;
      let logits: tf.Tensor2D | undefined;
      const grad = tf.tidy(() => {
        const both = tf.reshape(tf.concat([xc, xc]), [2 * m, ...shape]);
        const sel = tf.concat([tf.oneHot(ta, clf.numClasses), tf.ones([m, clf.numClasses])]);
        return tf.grad((xi: tf.Tensor) => {
          const z = clf.logits(xi);
          logits = tf.keep(tf.slice(z, [0, 0], [m, -1]));
          return tf.sum(tf.mul(z, sel)) as tf.Scalar;
        })(both);
      });
      tracker.count(idx, 2);
      const [flagsT, scoreT] = tf.tidy(() => {
        const ss = successTarget ? ta : undefined;
        return [isSuccess(logits!, ya, ss), attackObjective('cw', logits!, ya, ss)];
      });
      const flags = flagsT.dataSync();
      const xs = tf.reshape(xc, [m, ...shape]);
      const done = tracker.offer(idx, xs, flags, undefined, scoreT.dataSync());
      tf.dispose([flagsT, scoreT, logits!, xs]);
      let stop = done;
      if (s < maxSteps) {
        const choice = tf.tidy(() => {
          const g = tf.reshape(grad, [2 * m, d]);
          const alpha = tf.mul(tf.slice(g, [0, 0], [m, d]), sgn) as tf.Tensor2D;
          const beta = tf.sub(tf.mul(tf.slice(g, [m, 0], [m, d]), sgn), alpha) as tf.Tensor2D;
          return selectPairs(alpha, beta, mask, p.pairCandidates);
        });
        const ok = choice.ok.dataSync();
        stop = Uint8Array.from(done, (v, k) => (v || !ok[k] ? 1 : 0));
        const [nx, nm] = tf.tidy(() => {
          const delta = tf.add(tf.oneHot(choice.p, d), tf.oneHot(choice.q, d));
          const moved = clipToDomain(tf.reshape(tf.add(xc, tf.mul(delta, step)), [m, ...shape]), clf.domain);
          return [tf.reshape(moved, [m, d]), tf.mul(mask, tf.sub(1, delta))];
        });
        tf.dispose([choice.p, choice.q, choice.ok, xc, mask]);
        xc = nx as tf.Tensor2D;
        mask = nm as tf.Tensor2D;
        iterations = Math.max(iterations, s + 1);
      }
      grad.dispose();
      const keep = remaining(stop);
      if (keep.length < idx.length) {
        idx = Int32Array.from(keep, (k) => idx[k]!);
        const shrink = <T extends tf.Tensor>(t: T): T => shrinkRows(t, keep);
        xc = shrink(xc);
        mask = shrink(mask);
        ya = shrink(ya);
        ta = shrink(ta);
      }
      ctx.opts.onIteration?.(s, idx.length);
    }
    tf.dispose([xc, mask, ya, ta, target, step]);
    return tracker.result(threat, iterations);
  }
}
