import * as tf from '@tensorflow/tfjs-core';
import { boundsOf } from '../data/domain.js';
import { deriveSeed, Rng } from '../data/rng.js';
import { UserError } from '../errors.js';
import type { Classifier } from '../model/classifier.js';
import { clipToDomain } from '../threat/domain-clip.js';
import type { AttackOptions, AttackResult } from './attack.js';
import type { AttackSupport } from './support.js';
import { CheckedAttack, type AttackContext } from './checked.js';
import { isSuccess } from './losses.js';
import { AttackTracker } from './tracker.js';
import { readBack } from '../engine/read-back.js';

/**
 * Hyperparameters of {@link HopSkipJump}.
 *
 * @example
 * ```ts
 * const params: Partial<HopSkipJumpParams> = { maxQueries: 1000 };
 * const hsj = new HopSkipJump(params);
 * ```
 */
export type HopSkipJumpParams = {
  /** Query budget per example, everything included (start search, binary searches, estimates). Default 5000. */
  maxQueries: number;
  /** Most iterations (estimate → step → binary search). Default 64 (the paper's); the query budget usually binds first. */
  iterations: number;
  /** Samples of the first gradient estimate; iteration t uses initEvals·√t. Default 100. */
  initEvals: number;
  /** Cap on the samples of one gradient estimate. Default 10,000. */
  maxEvals: number;
  /** Uniform-noise draws tried per example to find an adversarial starting point. Default 100. */
  initTries: number;
  /** γ: the binary-search threshold θ = γ/d^{3/2} (L2) or γ/d² (Linf). Default 1. */
  gamma: number;
  /**
   * false (default): an example is done as soon as an adversarial point within ε is found
   * (budgeted evaluation, fewest queries). true: keep shrinking the distance for the whole query
   * budget and return the smallest adversarial point found within ε (minimal-norm use: give a
   * large ε, e.g. l2:100, to read off the distances).
   */
  minimize: boolean;
};

export const HOPSKIPJUMP_DEFAULTS: HopSkipJumpParams = {
  maxQueries: 5000,
  iterations: 64,
  initEvals: 100,
  maxEvals: 10000,
  initTries: 100,
  gamma: 1,
  minimize: false,
};

/** Run options of {@link HopSkipJump}: the common ones, plus optional adversarial starting points. */
export interface HopSkipJumpOptions extends AttackOptions {
  /**
   * One adversarial starting point per example (same shape as x), e.g. an image of the target
   * class for a targeted attack. Rows that are not adversarial are treated as missing. Without
   * it, starting points are searched among uniform noise (rarely works for targeted attacks).
   */
  startingPoints?: tf.Tensor;
}

/** Largest number of logits rows evaluated in one forward pass of a gradient estimate. */
const MAX_ROWS = 4096;

/** The threats, model access and hyperparameters of {@link HopSkipJump}. */
export const HOPSKIPJUMP_SUPPORT: AttackSupport = { norms: ['l2', 'linf'], access: 'decision', params: ['maxQueries', 'iterations', 'initEvals', 'maxEvals', 'initTries', 'gamma', 'minimize'] };
/**
 * HopSkipJump (Chen, Jordan, Wainwright, IEEE S&P 2020): a decision-based attack that sees only
 * the predicted label (argmax of the logits). From an adversarial starting point it repeats:
 * binary search to the decision boundary between x and the current point (threshold
 * θ = γ/d^{3/2} for L2, γ/d² for Linf); a Monte-Carlo estimate of the boundary's normal at that
 * point from initEvals·√t random unit directions at radius δ = d·θ·dist (δ = 0.1·range in the first
 * iteration), with the mean decision as baseline; a geometric step-size search along it
 * (ξ = dist/√t, halved until the point is adversarial; Linf steps along the sign). L2 and Linf.
 *
 * It is a minimal-norm attack used under a budget: an example succeeds only with an adversarial
 * point within ε, and xAdv is then that point; otherwise xAdv is x. The reported distance is
 * the threat-norm distance of xAdv. Every label read is one query; queries never exceed
 * `maxQueries` per example.
 *
 * @example
 * ```ts
 * const hsj = new HopSkipJump({ maxQueries: 2000, minimize: true });
 * const r = await hsj.run(clf, x, y, { threat: parseThreat('l2:100'), seed: 0 });
 * console.log(r.distance); // L2 distance of each adversarial point found
 * r.xAdv.dispose();
 * ```
 */
export class HopSkipJump extends CheckedAttack<HopSkipJumpParams> {

  constructor(params: Partial<HopSkipJumpParams> = {}) {
    super('hopskipjump', HOPSKIPJUMP_SUPPORT, HOPSKIPJUMP_DEFAULTS, params);
    const p = this.params;
    const posInt = (v: number, field: string) => {
      if (!Number.isInteger(v) || v < 1) throw new UserError(`HopSkipJump ${field} must be a positive integer (got ${v})`);
    };
    posInt(p.maxQueries, 'maxQueries (--queries)');
    posInt(p.iterations, 'iterations');
    posInt(p.initEvals, 'initEvals');
    posInt(p.maxEvals, 'maxEvals');
    if (!Number.isInteger(p.initTries) || p.initTries < 0) throw new UserError(`HopSkipJump initTries must be an integer ≥ 0 (got ${p.initTries})`);
    if (!(p.gamma > 0)) throw new UserError(`HopSkipJump gamma must be positive (got ${p.gamma})`);
  }

  /** As every attack's `run`, with HopSkipJump's own options (starting points). */
  override run(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, opts: HopSkipJumpOptions): Promise<AttackResult> {
    return super.run(clf, x, y, opts);
  }

  protected async attack(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, ctx: AttackContext): Promise<AttackResult> {
    const { threat, target, seed } = ctx;
    const opts = ctx.opts as HopSkipJumpOptions;
    const norm = threat.norm as 'linf' | 'l2';
    if (opts.startingPoints && (opts.startingPoints.shape.length !== x.shape.length || opts.startingPoints.shape.some((s, i) => s !== x.shape[i]))) {
      throw new UserError(`HopSkipJump startingPoints must have the shape of x [${x.shape.join(', ')}] (got [${opts.startingPoints.shape.join(', ')}])`);
    }
    const p = this.params;
    const rng = new Rng(seed);
    const n = x.shape[0]!;
    const shape = x.shape.slice(1);
    const d = x.size / n;
    const xs = x.dataSync() as Float32Array;
    const tracker = new AttackTracker(x, p.minimize ? 'min' : 'first');
    const theta = norm === 'l2' ? p.gamma / d ** 1.5 : p.gamma / d ** 2;
    const searchSteps = Math.ceil(Math.log2(1 / theta));
    const left = (i: number) => p.maxQueries - tracker.queries[i]!;
    const domainRange = meanRange(clf, d);

    /** Labels-only oracle: per row, 1 if adversarial. `owners` gives the example of each row. */
    const decide = (rowsData: Float32Array, owners: ArrayLike<number>): Uint8Array =>
      (readBack(() => {
        const idx = tf.tensor1d(Array.from(owners), 'int32');
        const logits = clf.logits(tf.tensor(rowsData, [owners.length, ...shape]));
        tracker.count(owners);
        return isSuccess(logits, tf.gather(y, idx) as tf.Tensor1D, target ? (tf.gather(target, idx) as tf.Tensor1D) : undefined);
      }) as Uint8Array).slice();

    // Current adversarial point of each example (valid where has[i]) and its distance.
    const cur = new Float32Array(n * d);
    const has = new Uint8Array(n);
    const dist = new Float64Array(n);
    const done = new Uint8Array(n);

    // 1. Starting points: given, or uniform noise.
    if (opts.startingPoints) {
      const sp = opts.startingPoints.dataSync() as Float32Array;
      const all = Int32Array.from({ length: n }, (_, i) => i);
      const ok = decide(sp, all);
      for (let i = 0; i < n; i++) {
        if (!ok[i]) continue;
        has[i] = 1;
        cur.set(sp.subarray(i * d, (i + 1) * d), i * d);
      }
    }
    for (let tries = 0; tries < p.initTries; tries++) {
      const pending = range(n).filter((i) => !has[i] && left(i) > 0);
      if (pending.length === 0) break;
      const noise = new Float32Array(pending.length * d);
      for (let k = 0; k < pending.length; k++) {
        for (let j = 0; j < d; j++) {
          const [lo, hi] = boundsOf(clf.domain, j);
          noise[k * d + j] = lo + (hi - lo) * rng.next();
        }
      }
      const ok = decide(noise, pending);
      pending.forEach((i, k) => {
        if (!ok[k]) return;
        has[i] = 1;
        cur.set(noise.subarray(k * d, (k + 1) * d), i * d);
      });
    }

    /** Binary search on the segment x → cur (L2: blend; Linf: clip radius), for the listed examples; moves cur to the boundary. */
    const boundary = (list: number[]): void => {
      if (list.length === 0) return;
      const lo = new Float64Array(list.length);
      const hi = new Float64Array(list.length).fill(1);
      const radius = list.map((i) => distance(cur, xs, i, d, 'linf'));
      const point = (k: number, lam: number, out: Float32Array, o: number) => {
        const i = list[k]!;
        for (let j = 0; j < d; j++) {
          const a = xs[i * d + j]!;
          const b = cur[i * d + j]!;
          let v = norm === 'l2' ? a + lam * (b - a) : a + Math.min(Math.max(b - a, -lam * radius[k]!), lam * radius[k]!);
          v = Math.min(Math.max(v, Math.min(a, b)), Math.max(a, b));
          out[o + j] = v;
        }
      };
      for (let s = 0; s < searchSteps; s++) {
        const buf = new Float32Array(list.length * d);
        for (let k = 0; k < list.length; k++) point(k, (lo[k]! + hi[k]!) / 2, buf, k * d);
        const adv = decide(buf, list);
        for (let k = 0; k < list.length; k++) {
          const mid = (lo[k]! + hi[k]!) / 2;
          if (adv[k]) hi[k] = mid;
          else lo[k] = mid;
        }
      }
      const out = new Float32Array(d);
      for (let k = 0; k < list.length; k++) {
        const i = list[k]!;
        point(k, hi[k]!, out, 0);
        cur.set(out, i * d);
        dist[i] = distance(cur, xs, i, d, norm);
      }
    };

    /** Offers the current points that are within ε as successes. */
    const report = (list: number[]): void => {
      const ok = list.filter((i) => dist[i]! <= threat.eps);
      if (ok.length === 0) return;
      const idx = Int32Array.from(ok);
      const buf = new Float32Array(ok.length * d);
      ok.forEach((i, k) => buf.set(cur.subarray(i * d, (i + 1) * d), k * d));
      const t = tf.tensor(buf, [ok.length, ...shape]);
      const fin = tracker.offer(idx, t, ok.map(() => 1), ok.map((i) => dist[i]!));
      t.dispose();
      ok.forEach((i, k) => {
        if (fin[k]) done[i] = 1;
      });
    };

    const start = range(n).filter((i) => has[i] && left(i) >= searchSteps);
    boundary(start);
    report(range(n).filter((i) => has[i]));

    let iterations = 0;
    for (let t = 1; t <= p.iterations; t++) {
      const reserve = searchSteps + 1;
      const act = range(n).filter((i) => has[i] && !done[i] && left(i) > reserve);
      if (act.length === 0) break;
      const budgetB = Math.min(...act.map((i) => left(i) - reserve));
      const numEvals = Math.max(1, Math.min(Math.floor(p.initEvals * Math.sqrt(t)), p.maxEvals, budgetB));
      const deltas = act.map((i) => (t === 1 ? 0.1 * domainRange : d * theta * dist[i]!));
      const grads = this.estimate(clf, cur, act, deltas, numEvals, shape, norm, y, target, tracker, deriveSeed(seed, 'hsj-estimate', t));

      // Geometric step-size search from the boundary point along the estimate.
      const step = act.map((i) => dist[i]! / Math.sqrt(t));
      let pending = act.map((_, k) => k);
      for (let h = 0; h < 30 && pending.length > 0; h++) {
        pending = pending.filter((k) => left(act[k]!) > searchSteps);
        if (pending.length === 0) break;
        const buf = new Float32Array(pending.length * d);
        pending.forEach((k, r) => {
          const i = act[k]!;
          for (let j = 0; j < d; j++) buf[r * d + j] = cur[i * d + j]! + step[k]! * grads[k * d + j]!;
        });
        const clipped = readBack(() => clipToDomain(tf.tensor(buf, [pending.length, ...shape]), clf.domain)) as Float32Array;
        const adv = decide(clipped, pending.map((k) => act[k]!));
        const still: number[] = [];
        pending.forEach((k, r) => {
          if (adv[r]) cur.set(clipped.subarray(r * d, (r + 1) * d), act[k]! * d);
          else {
            step[k]! /= 2;
            still.push(k);
          }
        });
        pending = still;
      }
      boundary(act.filter((i) => left(i) >= searchSteps));
      report(act);
      iterations = t;
      opts.onIteration?.(t, act.filter((i) => !done[i]).length);
    }
    return tracker.result(threat, iterations);
  }

  /**
   * Monte-Carlo estimate of the boundary normal at each listed example's current point:
   * mean of (decision − baseline)·u over unit random directions u (Gaussian for L2, uniform for
   * Linf), clipped into the domain. Returns unit vectors (L2) or their signs (Linf), [list, d].
   */
  private estimate(
    clf: Classifier,
    cur: Float32Array,
    list: number[],
    deltas: number[],
    evals: number,
    shape: number[],
    norm: 'l2' | 'linf',
    y: tf.Tensor1D,
    target: tf.Tensor1D | undefined,
    tracker: AttackTracker,
    seed: number,
  ): Float32Array {
    const d = cur.length / y.shape[0];
    const out = new Float32Array(list.length * d);
    const per = Math.max(1, Math.floor(MAX_ROWS / evals));
    for (let k0 = 0; k0 < list.length; k0 += per) {
      const part = list.slice(k0, k0 + per);
      const m = part.length;
      const owners = part.flatMap((i) => Array<number>(evals).fill(i));
      const g = tf.tidy(() => {
        const base = new Float32Array(m * d);
        part.forEach((i, k) => base.set(cur.subarray(i * d, (i + 1) * d), k * d));
        const xb = tf.reshape(tf.tensor2d(base, [m, d]), [m, 1, d]);
        const dl = tf.reshape(tf.tensor1d(deltas.slice(k0, k0 + m)), [m, 1, 1]);
        const raw = norm === 'l2' ? tf.randomNormal([m, evals, d], 0, 1, 'float32', deriveSeed(seed, k0)) : tf.randomUniform([m, evals, d], -1, 1, 'float32', deriveSeed(seed, k0));
        const u = tf.div(raw, tf.maximum(tf.norm(raw, 2, 2, true), 1e-12));
        const pert = clipToDomain(tf.reshape(tf.add(xb, tf.mul(dl, u)), [m * evals, ...shape]), clf.domain);
        const rv = tf.div(tf.sub(tf.reshape(pert, [m, evals, d]), xb), dl);
        const idx = tf.tensor1d(owners, 'int32');
        const logits = clf.logits(pert);
        const dec = tf.cast(isSuccess(logits, tf.gather(y, idx) as tf.Tensor1D, target ? (tf.gather(target, idx) as tf.Tensor1D) : undefined), 'float32');
        const fval = tf.reshape(tf.sub(tf.mul(dec, 2), 1), [m, evals]);
        const mean = tf.mean(fval, 1, true);
        const allSame = tf.equal(tf.abs(mean), 1);
        const centered = tf.where(tf.tile(allSame, [1, evals]), fval, tf.sub(fval, mean));
        const grad = tf.mean(tf.mul(tf.reshape(centered, [m, evals, 1]), rv), 1);
        const unit = tf.div(grad, tf.maximum(tf.norm(grad, 2, 1, true), 1e-12));
        return norm === 'linf' ? tf.sign(unit) : unit;
      });
      tracker.count(owners);
      out.set(g.dataSync() as Float32Array, k0 * d);
      g.dispose();
    }
    return out;
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** ‖a_i − b_i‖ of example i of two flat batches, in L2 or Linf. */
function distance(a: Float32Array, b: Float32Array, i: number, d: number, norm: 'l2' | 'linf'): number {
  let s = 0;
  for (let j = i * d; j < (i + 1) * d; j++) {
    const v = Math.abs(a[j]! - b[j]!);
    s = norm === 'l2' ? s + v * v : Math.max(s, v);
  }
  return norm === 'l2' ? Math.sqrt(s) : s;
}

/** Mean width of the domain's box over the features. */
function meanRange(clf: Classifier, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) {
    const [lo, hi] = boundsOf(clf.domain, j);
    s += hi - lo;
  }
  return s / d;
}
