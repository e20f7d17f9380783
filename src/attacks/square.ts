import * as tf from '@tensorflow/tfjs-core';
import { boundsOf, type Domain } from '../data/domain.js';
import { deriveSeed, Rng } from '../data/rng.js';
import { UserError } from '../errors.js';
import type { Classifier } from '../model/classifier.js';
import type { ThreatModel } from '../threat/threat-model.js';
import type { AttackResult } from './attack.js';
import type { AttackSupport } from './support.js';
import { CheckedAttack, type AttackContext } from './checked.js';
import { rowObjective } from './row-losses.js';
import { AttackTracker } from './tracker.js';

/**
 * Hyperparameters of {@link SquareAttack}.
 *
 * @example
 * ```ts
 * const params: Partial<SquareParams> = { maxQueries: 1000, pInit: 0.8 };
 * const square = new SquareAttack(params);
 * ```
 */
export type SquareParams = {
  /** Query budget per example, the initial point included. Default 5000 (as in AutoAttack). */
  maxQueries: number;
  /**
   * Initial share of the input a square covers (p). Default 0.8 (AutoAttack's value for both
   * norms). Halved at the paper's milestones (iterations 10, 50, 200, 500, 1000, 2000, 4000,
   * 6000, 8000 of 10,000), rescaled to the query budget.
   */
  pInit: number;
  /**
   * Loss the random search minimises: the margin z_y − max_{j≠y} z_j, or cross-entropy. Default
   * as in the paper: margin when untargeted, cross-entropy of the target when targeted.
   */
  loss?: 'margin' | 'ce';
};

export const SQUARE_DEFAULTS: SquareParams = { maxQueries: 5000, pInit: 0.8 };

const MILESTONES = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000];

/** The share p of the input a square covers at iteration `it` of a `budget`-query run. */
export function squareP(pInit: number, it: number, budget: number): number {
  const i = Math.floor((it / budget) * 10000);
  let k = 0;
  while (k < MILESTONES.length && i > MILESTONES[k]!) k++;
  return pInit / 2 ** k;
}

/**
 * How the input is cut into windows: images ([h, w, c] or [h, w]) use s×s squares over all
 * channels; other inputs (tabular, flat vectors) use random subsets of features.
 */
interface Geometry {
  image: boolean;
  h: number;
  w: number;
  /** Channels (1 for flat inputs). */
  c: number;
  /** Spatial positions (h·w for images, features for flat inputs). */
  npix: number;
}

function geometryOf(shape: number[]): Geometry {
  if ((shape.length === 3 || shape.length === 2) && Math.min(shape[0]!, shape[1]!) >= 2) {
    const [h, w] = shape as [number, number];
    const c = shape.length === 3 ? shape[2]! : 1;
    return { image: true, h, w, c, npix: h * w };
  }
  const d = shape.reduce((a, b) => a * b, 1);
  return { image: false, h: 1, w: d, c: 1, npix: d };
}

/** Spatial positions (h·w indices, or feature indices for flat inputs) of one window. */
function squareWindow(g: Geometry, s: number, rng: Rng): Int32Array {
  const out = new Int32Array(s * s);
  const r0 = rng.int(g.h - s + 1);
  const c0 = rng.int(g.w - s + 1);
  for (let r = 0; r < s; r++) for (let c = 0; c < s; c++) out[r * s + c] = (r0 + r) * g.w + c0 + c;
  return out;
}

function subsetWindow(g: Geometry, k: number, rng: Rng): Int32Array {
  const all = Int32Array.from({ length: g.npix }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(g.npix - i);
    const t = all[i]!;
    all[i] = all[j]!;
    all[j] = t;
  }
  return all.slice(0, k);
}

/**
 * Pseudo-Gaussian bump of size a×b (row-major): concentric rectangles, weight 1/(k+1)² for the
 * k-th ring outwards, unit L2 norm (Andriushchenko et al. 2020, L2 attack).
 */
function rectangleBump(a: number, b: number): Float64Array {
  const out = new Float64Array(a * b);
  if (a === 0 || b === 0) return out;
  let r0 = Math.floor(a / 2);
  let c0 = Math.floor(b / 2);
  const rings = Math.max(Math.floor(a / 2) + 1, Math.floor(b / 2) + 1);
  for (let k = 0; k < rings; k++) {
    for (let r = Math.max(r0, 0); r < Math.min(r0 + 2 * k + 1, a); r++) {
      for (let c = Math.max(c0, 0); c < Math.min(c0 + 2 * k + 1, b); c++) out[r * b + c]! += 1 / (k + 1) ** 2;
    }
    r0--;
    c0--;
  }
  return normalise(out);
}

function normalise(v: Float64Array): Float64Array {
  let n = 0;
  for (const e of v) n += e * e;
  n = Math.sqrt(n);
  if (n > 0) for (let i = 0; i < v.length; i++) v[i]! /= n;
  return v;
}

/** The L2 attack's s×s update shape: a positive bump over a negative one, randomly transposed. */
function squareShape(s: number, rng: Rng): Float64Array {
  const top = Math.floor(s / 2);
  const up = rectangleBump(top, s);
  const down = rectangleBump(s - top, s);
  const out = new Float64Array(s * s);
  out.set(up, 0);
  for (let i = 0; i < down.length; i++) out[top * s + i] = -down[i]!;
  normalise(out);
  if (rng.next() < 0.5) {
    const t = new Float64Array(s * s);
    for (let r = 0; r < s; r++) for (let c = 0; c < s; c++) t[c * s + r] = out[r * s + c]!;
    return t;
  }
  return out;
}

/** The flat-input analogue of {@link squareShape}: half +, half −, unit norm. */
function subsetShape(k: number): Float64Array {
  const out = new Float64Array(k);
  for (let i = 0; i < k; i++) out[i] = i < k / 2 ? 1 : -1;
  if (k === 1) out[0] = 1;
  return normalise(out);
}

/** The threats, model access and hyperparameters of {@link SquareAttack}. */
export const SQUARE_SUPPORT: AttackSupport = { norms: ['linf', 'l2'], access: 'scores', refills: true, params: ['maxQueries', 'pInit', 'loss'] };
/**
 * Square Attack (Andriushchenko, Croce, Flammarion, Hein, ECCV 2020): a score-based random
 * search that needs only the model's logits. Each iteration changes one random square window
 * (all channels; for non-image inputs a random subset of features) and keeps the change if the
 * margin loss drops. Linf: starts from vertical stripes of ±ε and sets each window to ±ε per
 * channel. L2: starts from a grid of ±pseudo-Gaussian bumps and moves perturbation mass from a
 * second window into the first, keeping ‖δ‖₂ = ε. Every logits row is one query; each example
 * stops at its first success or when its budget is spent. Runs on any {@link Classifier}
 * (TF.js or ONNX). Projection and clipping go through the ThreatModel.
 *
 * @example
 * ```ts
 * const square = new SquareAttack({ maxQueries: 1000 });
 * const r = await square.run(clf, x, y, { threat: parseThreat('linf:0.3'), seed: 0 });
 * console.log(r.success, r.queries);
 * r.xAdv.dispose();
 * ```
 */
export class SquareAttack extends CheckedAttack<SquareParams> {

  constructor(params: Partial<SquareParams> = {}) {
    super('square', SQUARE_SUPPORT, SQUARE_DEFAULTS, params);
    const p = this.params;
    if (!Number.isInteger(p.maxQueries) || p.maxQueries < 1) throw new UserError(`Square maxQueries (--queries) must be a positive integer (got ${p.maxQueries})`);
    if (!(p.pInit > 0 && p.pInit <= 1)) throw new UserError(`Square p_init must be in (0, 1] (got ${p.pInit})`);
    if (p.loss !== undefined && p.loss !== 'margin' && p.loss !== 'ce') throw new UserError(`Square loss must be 'margin' or 'ce' (got '${String(p.loss)}')`);
  }

  protected async attack(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, ctx: AttackContext): Promise<AttackResult> {
    const { threat, target, seed, indices, opts } = ctx;
    const p = this.params;
    const lossKind = p.loss ?? (target ? 'ce' : 'margin');
    const loss = lossKind === 'ce' ? 'ce' : 'cw';
    const n = x.shape[0]!;
    const window = Math.max(1, Math.min(opts.window ?? n, n));
    // One random stream per example, keyed by its global index, and a query count per example:
    // an example's run does not depend on which other examples share the batch or when it
    // entered it (chunked, sharded and refilled runs rely on it).
    const rngs = Array.from(indices, (g) => new Rng(deriveSeed(seed, 'square', g)));
    const g = geometryOf(x.shape.slice(1));
    const d = g.npix * g.c;
    const eps = threat.eps;
    const xs = x.dataSync() as Float32Array;
    const run: SquareRun = {
      clf,
      x,
      y: y.dataSync() as Int32Array,
      target: target?.dataSync() as Int32Array | undefined,
      loss,
      threat,
      tracker: new AttackTracker(x),
      best: new Float32Array(n * d),
      bestObj: new Float64Array(n).fill(-Infinity),
      used: new Int32Array(n),
      budget: p.maxQueries,
    };
    const cand = new Float32Array(window * d);
    let active: Int32Array = new Int32Array(0);
    let next = 0;
    let rounds = 0;
    while (next < n || active.length > 0) {
      // Refill: a waiting example takes the place of each one that finished.
      if (active.length < window && next < n) {
        const add = Math.min(window - active.length, n - next);
        const grown = new Int32Array(active.length + add);
        grown.set(active);
        for (let k = 0; k < add; k++) grown[active.length + k] = next + k;
        active = grown;
        next += add;
      }
      for (let k = 0; k < active.length; k++) {
        const i = active[k]!;
        const xi = xs.subarray(i * d, (i + 1) * d);
        const out = cand.subarray(k * d, (k + 1) * d);
        if (run.used[i] === 0) {
          const delta = threat.norm === 'linf' ? stripes(g, eps, rngs[i]!) : gridInit(g, eps, rngs[i]!);
          for (let j = 0; j < d; j++) out[j] = xi[j]! + delta[j]!;
          continue;
        }
        const frac = squareP(p.pInit, run.used[i]!, p.maxQueries);
        const bi = run.best.subarray(i * d, (i + 1) * d);
        if (threat.norm === 'linf') linfProposal(g, frac, eps, xi, bi, out, clf.domain, rngs[i]!);
        else l2Proposal(g, frac, eps, xi, bi, out, rngs[i]!);
      }
      active = this.step(run, active, cand.subarray(0, active.length * d));
      opts.onIteration?.(rounds++, active.length);
    }
    let iterations = 0;
    for (const u of run.used) iterations = Math.max(iterations, u - 1);
    return run.tracker.result(threat, iterations);
  }

  /**
   * Queries candidates for the `active` rows (projected by the threat model first), keeps those
   * that lower the loss as the rows' new best (a row's first query is always kept), and returns
   * the rows still to attack: not yet successful, with queries left.
   */
  private step(run: SquareRun, active: Int32Array, cand: Float32Array): Int32Array {
    const { clf, x, threat, tracker, best, bestObj, used } = run;
    const d = best.length / x.shape[0]!;
    const { projected, logits } = tf.tidy(() => {
      const x0 = tf.gather(x, tf.tensor1d(active, 'int32'));
      const xc = threat.project(tf.tensor(cand, x0.shape), x0, clf.domain);
      return { projected: xc, logits: clf.logits(xc) };
    });
    tracker.count(active);
    const z = logits.dataSync() as Float32Array;
    const ya = Int32Array.from(active, (i) => run.y[i]!);
    const ta = run.target ? Int32Array.from(active, (i) => run.target![i]!) : undefined;
    const { objective: o, success: s } = rowObjective(run.loss, z, clf.numClasses, ya, ta);
    const pd = projected.dataSync() as Float32Array;
    for (let k = 0; k < active.length; k++) {
      const i = active[k]!;
      if (used[i] === 0 || o[k]! > bestObj[i]!) {
        bestObj[i] = o[k]!;
        best.set(pd.subarray(k * d, (k + 1) * d), i * d);
      }
      used[i]!++;
    }
    const done = tracker.offer(active, projected, s, undefined, o);
    tf.dispose([projected, logits]);
    const keep: number[] = [];
    for (let k = 0; k < active.length; k++) if (!done[k] && used[active[k]!]! < run.budget) keep.push(active[k]!);
    return Int32Array.from(keep);
  }
}

/** What one Square run shares between its steps. */
interface SquareRun {
  clf: Classifier;
  x: tf.Tensor;
  y: Int32Array;
  target?: Int32Array;
  loss: 'ce' | 'cw';
  threat: ThreatModel;
  tracker: AttackTracker;
  /** Per example: the best point so far and its objective. */
  best: Float32Array;
  bestObj: Float64Array;
  /** Per example: queries spent (its own iteration count). */
  used: Int32Array;
  budget: number;
}

/** Linf start: one random sign per (column, channel), the same down every column (vertical stripes). */
function stripes(g: Geometry, eps: number, rng: Rng): Float32Array {
  const out = new Float32Array(g.npix * g.c);
  const signs = Float32Array.from({ length: g.w * g.c }, () => (rng.next() < 0.5 ? -eps : eps));
  for (let r = 0; r < g.h; r++) for (let c = 0; c < g.w; c++) for (let ch = 0; ch < g.c; ch++) out[(r * g.w + c) * g.c + ch] = signs[c * g.c + ch]!;
  return out;
}

/** L2 start: a grid of 5×5 tiles of ±pseudo-Gaussian bumps (random sign per tile and channel), scaled to ε. */
function gridInit(g: Geometry, eps: number, rng: Rng): Float32Array {
  const d = g.npix * g.c;
  const delta = new Float64Array(d);
  const s = Math.floor(Math.min(g.h, g.w) / 5);
  if (g.image && s >= 1) {
    const r0 = Math.floor((g.h - 5 * s) / 2);
    const c0 = Math.floor((g.w - 5 * s) / 2);
    for (let tr = 0; tr < Math.floor(g.h / s); tr++) {
      for (let tc = 0; tc < Math.floor(g.w / s); tc++) {
        const bump = squareShape(s, rng);
        for (let ch = 0; ch < g.c; ch++) {
          const sign = rng.next() < 0.5 ? -1 : 1;
          for (let r = 0; r < s; r++) {
            for (let c = 0; c < s; c++) {
              const rr = r0 + tr * s + r;
              const cc = c0 + tc * s + c;
              if (rr < g.h && cc < g.w) delta[(rr * g.w + cc) * g.c + ch]! += sign * bump[r * s + c]!;
            }
          }
        }
      }
    }
  } else {
    for (let j = 0; j < d; j++) delta[j] = rng.next() < 0.5 ? -1 : 1;
  }
  normalise(delta);
  return Float32Array.from(delta, (v) => v * eps);
}

/** Linf proposal: the best point with one window set to x ± ε (a sign per channel), resampled if it would change nothing. */
function linfProposal(g: Geometry, p: number, eps: number, xi: Float32Array, bi: Float32Array, out: Float32Array, domain: Domain, rng: Rng): void {
  out.set(bi);
  const s = g.image ? Math.min(Math.max(Math.round(Math.sqrt(p * g.npix)), 1), Math.min(g.h, g.w) - 1) : 0;
  const k = g.image ? 0 : Math.min(Math.max(Math.round(p * g.npix), 1), g.npix);
  for (let attempt = 0; attempt < 10; attempt++) {
    const win = g.image ? squareWindow(g, s, rng) : subsetWindow(g, k, rng);
    const signs = Array.from({ length: g.c }, () => (rng.next() < 0.5 ? -eps : eps));
    let changed = false;
    for (const pix of win) {
      for (let ch = 0; ch < g.c; ch++) {
        const j = pix * g.c + ch;
        const [lo, hi] = boundsOf(domain, j);
        const v = Math.min(Math.max(xi[j]! + signs[ch]!, lo), hi);
        if (Math.abs(v - bi[j]!) > 1e-7) changed = true;
      }
    }
    if (changed || attempt === 9) {
      for (const pix of win) for (let ch = 0; ch < g.c; ch++) out[pix * g.c + ch] = xi[pix * g.c + ch]! + signs[ch]!;
      return;
    }
  }
}

/**
 * L2 proposal: in window 1 (per channel) a new ±bump plus the old direction there, rescaled to take
 * the budget left over plus the mass of windows 1 and 2; window 2 is cleared; the whole
 * perturbation is rescaled to ‖δ‖₂ = ε.
 */
function l2Proposal(g: Geometry, p: number, eps: number, xi: Float32Array, bi: Float32Array, out: Float32Array, rng: Rng): void {
  const d = xi.length;
  const delta = new Float64Array(d);
  let normImage2 = 0;
  for (let j = 0; j < d; j++) {
    delta[j] = bi[j]! - xi[j]!;
    normImage2 += delta[j]! * delta[j]!;
  }
  let w1: Int32Array;
  let w2: Int32Array;
  let shape: Float64Array;
  if (g.image) {
    let s = Math.max(Math.round(Math.sqrt(p * g.npix)), 3);
    if (s % 2 === 0) s += 1;
    s = Math.min(s, Math.min(g.h, g.w) - 1);
    w1 = squareWindow(g, s, rng);
    w2 = squareWindow(g, s, rng);
    shape = squareShape(s, rng);
  } else {
    const k = Math.min(Math.max(Math.round(p * g.npix), 2), g.npix);
    w1 = subsetWindow(g, k, rng);
    w2 = subsetWindow(g, k, rng);
    shape = subsetShape(k);
  }
  const inW1 = new Uint8Array(g.npix);
  for (const pix of w1) inW1[pix] = 1;
  const spare2 = Math.max(eps * eps - normImage2, 0) / g.c;
  for (let ch = 0; ch < g.c; ch++) {
    let win1 = 0;
    let union = 0;
    for (const pix of w1) win1 += delta[pix * g.c + ch]! ** 2;
    union = win1;
    for (const pix of w2) if (!inW1[pix]) union += delta[pix * g.c + ch]! ** 2;
    const n1 = Math.sqrt(win1);
    const sign = rng.next() < 0.5 ? -1 : 1;
    const upd = new Float64Array(w1.length);
    let un = 0;
    for (let q = 0; q < w1.length; q++) {
      upd[q] = sign * shape[q]! + delta[w1[q]! * g.c + ch]! / (n1 + 1e-10);
      un += upd[q]! * upd[q]!;
    }
    const scale = Math.sqrt(spare2 + union) / Math.max(Math.sqrt(un), 1e-12);
    for (const pix of w2) delta[pix * g.c + ch] = 0;
    for (let q = 0; q < w1.length; q++) delta[w1[q]! * g.c + ch] = upd[q]! * scale;
  }
  let norm = 0;
  for (const v of delta) norm += v * v;
  norm = Math.max(Math.sqrt(norm), 1e-12);
  for (let j = 0; j < d; j++) out[j] = xi[j]! + (delta[j]! / norm) * eps;
}
