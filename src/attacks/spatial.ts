import * as tf from '@tensorflow/tfjs-core';
// tfjs-layers' bundle registers the gradients of every core op (tfjs-core's own ESM registration file cannot load in Node).
import '@tensorflow/tfjs-layers';
import type { Classifier } from '../model/classifier.js';
import { SPATIAL_DIMS, type SpatialGridCounts, type SpatialThreat } from '../threat/spatial.js';
import type { AttackOptions, AttackResult } from './attack.js';
import type { AttackSupport } from './support.js';
import { CheckedAttack, type AttackContext } from './checked.js';
import { attackObjective, isSuccess, type AttackLoss } from './losses.js';
import { UserError } from '../errors.js';
import { deriveSeed } from '../data/rng.js';

/** How {@link Spatial} searches the transform box. */
export type SpatialMode = 'grid' | 'random' | 'first-order';
export const SPATIAL_MODES: SpatialMode[] = ['grid', 'random', 'first-order'];

/**
 * Hyperparameters of {@link Spatial}.
 *
 * @example
 * ```ts
 * const params: Partial<SpatialParams> = { mode: 'random', samples: 10 };
 * const spatial = new Spatial(params);
 * ```
 */
export type SpatialParams = {
  /** 'grid': exhaustive grid; 'random': worst-of-k random transforms; 'first-order': projected gradient ascent on the parameters. Default 'grid'. */
  mode: SpatialMode;
  /** Grid points in [−rot, rot]. Default 31 (Engstrom et al.). */
  gridRotations: number;
  /** Grid points per axis in [−trans, trans]. Default 5. */
  gridTranslations: number;
  /** Grid points in the scale range (when it is not empty). Default 5. */
  gridScales: number;
  /** Random transforms per example ('random'). Default 10 (worst-of-10). */
  samples: number;
  /** Gradient steps per restart ('first-order'). Default 20. */
  steps: number;
  /** Step length as a fraction of each parameter's half-range (signed steps, normalised L∞). Default 0.1. */
  stepSize: number;
  /** Independent runs from uniform random parameters ('first-order'). Default 5. */
  restarts: number;
  /** Objective ascended ('first-order') and used to keep the worst failed transform. Default 'ce'. */
  loss: AttackLoss;
  /** Most transformed images per model call. Default 1024. */
  batchSize: number;
};

export const SPATIAL_DEFAULTS: SpatialParams = {
  mode: 'grid',
  gridRotations: 31,
  gridTranslations: 5,
  gridScales: 5,
  samples: 10,
  steps: 20,
  stepSize: 0.1,
  restarts: 5,
  loss: 'ce',
  batchSize: 1024,
};

/** The options of a spatial attack run: those of every attack, with a spatial threat. */
export type SpatialAttackOptions = AttackOptions<SpatialThreat>;

/**
 * An AttackResult plus the transform found for each example.
 *
 * @example
 * ```ts
 * const r: SpatialAttackResult = await new Spatial().run(clf, x, y, { threat: spatialThreat({ rotation: 30, translation: 3 }) });
 * const [rotation, tx, ty, scale] = r.params.subarray(0, 4); // the first example's transform
 * r.xAdv.dispose();
 * ```
 */
export interface SpatialAttackResult extends AttackResult {
  /** Per-example transform parameters `[n * 4]` (rotation°, tx, ty, scale); the identity where nothing was tried. */
  params: Float32Array;
}

function checkParams(p: SpatialParams): void {
  if (!SPATIAL_MODES.includes(p.mode)) throw new UserError(`unknown spatial mode '${p.mode}': choose one of ${SPATIAL_MODES.join(', ')}`);
  const ints: (keyof SpatialParams)[] = ['gridRotations', 'gridTranslations', 'gridScales', 'samples', 'steps', 'restarts', 'batchSize'];
  for (const k of ints) {
    const v = p[k] as number;
    if (!Number.isInteger(v) || v < 1) throw new UserError(`spatial ${k} must be a positive integer (got ${v})`);
  }
  if (!(p.stepSize > 0)) throw new UserError(`spatial stepSize must be positive (got ${p.stepSize})`);
}

/** Per-example book-keeping: first success wins; while none, the highest objective. */
class Best {
  readonly params: Float32Array;
  readonly score: Float32Array;
  readonly success: Uint8Array;
  readonly queries: Int32Array;

  constructor(readonly n: number, identity: Float32Array) {
    this.params = new Float32Array(n * SPATIAL_DIMS);
    for (let i = 0; i < n; i++) this.params.set(identity, i * SPATIAL_DIMS);
    this.score = new Float32Array(n).fill(-Infinity);
    this.success = new Uint8Array(n);
    this.queries = new Int32Array(n);
  }

  offer(i: number, p: ArrayLike<number>, off: number, succeeded: boolean, score: number): void {
    if (this.success[i]) return;
    if (succeeded) this.success[i] = 1;
    else if (!(score > this.score[i]!)) return;
    else this.score[i] = score;
    for (let k = 0; k < SPATIAL_DIMS; k++) this.params[i * SPATIAL_DIMS + k] = p[off + k]!;
  }

  active(): Int32Array {
    const out: number[] = [];
    for (let i = 0; i < this.n; i++) if (!this.success[i]) out.push(i);
    return Int32Array.from(out);
  }
}

/** The threats, model access and hyperparameters of {@link Spatial}. */
export const SPATIAL_SUPPORT: AttackSupport = { norms: [], spatial: true, access: 'gradient', params: ['mode', 'gridRotations', 'gridTranslations', 'gridScales', 'samples', 'steps', 'stepSize', 'restarts', 'loss', 'batchSize'] };
/**
 * Spatial transformation attacks (Engstrom et al. 2019, "Exploring the Landscape of Spatial
 * Robustness", ICML): find a rotation / translation (/ scaling) inside the box of a
 * {@link SpatialThreat} that makes the model err. Three searches, chosen by `mode`, share the
 * threat, the book-keeping and the result:
 *
 * - `grid`: every point of a grid (default 31 rotations × 5 × 5 translations = 775), visited in
 *   order of increasing transform size; an example stops at its first (so smallest) breaking
 *   transform.
 * - `random`: worst-of-k — k uniform random transforms per example (default 10); stops at the
 *   first breaking one; otherwise keeps the one of highest loss.
 * - `first-order`: projected signed-gradient ascent on the loss w.r.t. the transform parameters,
 *   through the differentiable bilinear sampler, from random starts (default 5 × 20 steps).
 *
 * Candidates of many examples are stacked into model batches of up to `batchSize` transformed
 * images. One transformed image through the model is one query. The result's `distance` is the
 * normalised L∞ size of the transform (see {@link SpatialThreat.transformSize}); `params` holds the
 * transforms themselves; `xAdv` is x under them.
 *
 * @example
 * ```ts
 * const threat = spatialThreat({ rotation: 30, translation: 3 });
 * const r = await new Spatial({ mode: 'grid' }).run(clf, x, y, { threat, seed: 0 });
 * console.log(r.success, r.params); // per example: broken?, (rotation°, tx, ty, scale)
 * r.xAdv.dispose();
 * ```
 */
export class Spatial extends CheckedAttack<SpatialParams, SpatialThreat, SpatialAttackResult> {

  constructor(params: Partial<SpatialParams> = {}) {
    super('spatial', SPATIAL_SUPPORT, SPATIAL_DEFAULTS, params);
    checkParams(this.params);
  }

  protected async attack(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, { threat, target, seed, opts }: AttackContext<SpatialThreat>): Promise<SpatialAttackResult> {
    if (x.rank !== 4 && x.rank !== 3) throw new UserError(`the spatial attack needs image inputs [b, h, w, c] (got shape [${x.shape}])`);
    const n = x.shape[0]!;
    const identity = Float32Array.from([0, 0, 0, 1]);
    const best = new Best(n, identity);
    const ctx: Ctx = { clf, x, y, target, threat, best, loss: this.params.loss, batchSize: this.params.batchSize, onIteration: opts.onIteration };
    let iterations: number;
    switch (this.params.mode) {
      case 'grid': {
        const counts: SpatialGridCounts = { rotations: this.params.gridRotations, translations: this.params.gridTranslations, scales: this.params.gridScales };
        const g = threat.grid(counts);
        iterations = searchCandidates(ctx, g.length / SPATIAL_DIMS, (_, t) => [g, t * SPATIAL_DIMS]);
        break;
      }
      case 'random': {
        const k = this.params.samples;
        // Drawn up front, example-major, so the numbers do not depend on how the batch is chunked.
        const r = threat.randomValues(n * k, seed);
        iterations = searchCandidates(ctx, k, (i, t) => [r, (i * k + t) * SPATIAL_DIMS]);
        break;
      }
      case 'first-order':
        iterations = firstOrder(ctx, this.params, seed);
        break;
    }
    return tf.tidy(() => {
      const p = tf.tensor2d(best.params, [n, SPATIAL_DIMS]);
      const xAdv = threat.transform(x, p, clf.domain);
      return {
        xAdv: tf.keep(xAdv),
        success: best.success.slice(),
        distance: threat.transformSizeValues(best.params),
        queries: best.queries.slice(),
        iterations,
        params: best.params.slice(),
      };
    });
  }
}

interface Ctx {
  clf: Classifier;
  x: tf.Tensor;
  y: tf.Tensor1D;
  target?: tf.Tensor1D;
  threat: SpatialThreat;
  best: Best;
  loss: AttackLoss;
  batchSize: number;
  onIteration?: (iteration: number, active: number) => void;
}

/** Model verdicts on `rows` (global example ids) transformed by `params` ([rows.length * 4]); counts one query per row. */
function judge(ctx: Ctx, rows: Int32Array, params: Float32Array): { success: Uint8Array | Int32Array | Float32Array; score: Float32Array } {
  const { clf, x, y, target, threat } = ctx;
  const [s, o] = tf.tidy(() => {
    const idx = tf.tensor1d(rows, 'int32');
    const xt = threat.transform(tf.gather(x, idx), tf.tensor2d(params, [rows.length, SPATIAL_DIMS]), clf.domain);
    const logits = clf.logits(xt);
    const ya = tf.gather(y, idx) as tf.Tensor1D;
    const ta = target ? (tf.gather(target, idx) as tf.Tensor1D) : undefined;
    return [isSuccess(logits, ya, ta), attackObjective(ctx.loss, logits, ya, ta)];
  });
  const success = s.dataSync() as Uint8Array;
  const score = o.dataSync() as Float32Array;
  tf.dispose([s, o]);
  for (const i of rows) ctx.best.queries[i]! += 1;
  return { success, score };
}

/**
 * Tries `count` candidate transforms per example, in order, on the examples not yet broken.
 * `cand(i, t)` gives the array and offset of candidate t of example i. Each model call stacks
 * candidates t..t+m−1 of every active example (transform-major, so an example's first success
 * in a call is its earliest candidate). Returns the number of candidates tried (the largest).
 */
function searchCandidates(ctx: Ctx, count: number, cand: (i: number, t: number) => [ArrayLike<number>, number]): number {
  let t = 0;
  let active = ctx.best.active();
  while (t < count && active.length > 0) {
    const m = Math.min(count - t, Math.max(1, Math.floor(ctx.batchSize / active.length)));
    const rows = new Int32Array(m * active.length);
    const params = new Float32Array(rows.length * SPATIAL_DIMS);
    for (let a = 0; a < m; a++) {
      for (let k = 0; k < active.length; k++) {
        const r = a * active.length + k;
        const i = active[k]!;
        rows[r] = i;
        const [arr, off] = cand(i, t + a);
        for (let d = 0; d < SPATIAL_DIMS; d++) params[r * SPATIAL_DIMS + d] = arr[off + d]!;
      }
    }
    const { success, score } = judge(ctx, rows, params);
    for (let r = 0; r < rows.length; r++) ctx.best.offer(rows[r]!, params, r * SPATIAL_DIMS, success[r] === 1, score[r]!);
    t += m;
    active = ctx.best.active();
    ctx.onIteration?.(t, active.length);
  }
  return t;
}

/** Projected signed-gradient ascent on the transform parameters, with random restarts. */
function firstOrder(ctx: Ctx, p: SpatialParams, seed: number): number {
  const { clf, x, y, target, threat, best } = ctx;
  let iterations = 0;
  for (let r = 0; r < p.restarts; r++) {
    let active = best.active();
    if (active.length === 0) break;
    // One random start per example, drawn for the whole batch so the numbers do not depend on which examples are left.
    const start = threat.randomValues(best.n, deriveSeed(seed, 'spatial-restart', r));
    for (let c0 = 0; c0 < active.length; c0 += p.batchSize) {
      let idx = active.slice(c0, c0 + p.batchSize);
      const init = new Float32Array(idx.length * SPATIAL_DIMS);
      idx.forEach((i, k) => init.set(start.subarray(i * SPATIAL_DIMS, (i + 1) * SPATIAL_DIMS), k * SPATIAL_DIMS));
      let cur = tf.tensor2d(init, [idx.length, SPATIAL_DIMS]);
      for (let s = 0; s <= p.steps && idx.length > 0; s++) {
        const rowsT = tf.tensor1d(idx, 'int32');
        const xa = tf.gather(x, rowsT);
        const ya = tf.gather(y, rowsT) as tf.Tensor1D;
        const ta = target ? (tf.gather(target, rowsT) as tf.Tensor1D) : undefined;
        let succ: tf.Tensor | undefined;
        let obj: tf.Tensor | undefined;
        const { grad, value } = tf.valueAndGrad((q: tf.Tensor) => {
          const z = clf.logits(threat.transform(xa, q as tf.Tensor2D, clf.domain));
          succ = tf.keep(isSuccess(z, ya, ta));
          const o = attackObjective(ctx.loss, z, ya, ta);
          obj = tf.keep(o);
          return tf.sum(o) as tf.Scalar;
        })(cur);
        value.dispose();
        for (const i of idx) best.queries[i]! += 1;
        const flags = succ!.dataSync();
        const scores = obj!.dataSync();
        const vals = cur.dataSync();
        const keep: number[] = [];
        for (let k = 0; k < idx.length; k++) {
          best.offer(idx[k]!, vals, k * SPATIAL_DIMS, flags[k] === 1, scores[k]!);
          if (!flags[k]) keep.push(k);
        }
        let next: tf.Tensor2D | undefined;
        if (s < p.steps) {
          next = tf.tidy(() => threat.project(tf.add(cur, threat.ascentStep(grad as tf.Tensor2D, p.stepSize)) as tf.Tensor2D));
          iterations = Math.max(iterations, s + 1);
        }
        tf.dispose([rowsT, xa, ya, grad, cur, succ!, obj!, ...(ta ? [ta] : [])]);
        if (!next) break;
        cur = next;
        if (keep.length < idx.length) {
          const g = tf.tidy(() => tf.gather(cur, tf.tensor1d(keep, 'int32'))) as tf.Tensor2D;
          cur.dispose();
          cur = g;
          idx = Int32Array.from(keep, (k) => idx[k]!);
        }
        ctx.onIteration?.(s, idx.length);
      }
      if (!cur.isDisposed) cur.dispose();
    }
  }
  return iterations;
}
