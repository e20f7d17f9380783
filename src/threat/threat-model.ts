import * as tf from '@tensorflow/tfjs-core';
import type { Domain } from '../data/domain.js';
import { UserError } from '../errors.js';
import { clipToDomain } from './domain-clip.js';
import { deriveSeed, Rng } from '../data/rng.js';
import { BUDGET_SLACK, type Threat, type ThreatCheck } from './threat.js';

/**
 * The perturbation norms a ThreatModel can bound.
 *
 * @example
 * ```ts
 * const norm: Norm = 'l2';
 * const threat = lpThreat(norm, 1.5);
 * ```
 */
export type Norm = 'linf' | 'l2' | 'l1' | 'l0';
export const NORMS: Norm[] = ['linf', 'l2', 'l1', 'l0'];

/**
 * A norm-bounded threat model: the set of inputs an attacker may reach from x is
 * { x' in domain : ‖x' − x‖ ≤ ε }. It owns projection, clipping to the domain, random starts,
 * per-example distances and the steepest-ascent direction, so no attack repeats that code.
 * All methods take and return batches `[b, ...inputShape]` and leak no tensors.
 *
 * @example
 * ```ts
 * const threat = parseThreat('linf:0.3');
 * const x0 = threat.randomStart(x, { lower: 0, upper: 1 }, 1);
 * const x1 = threat.project(tf.add(x0, threat.ascentStep(grad, 0.01)), x, { lower: 0, upper: 1 });
 * ```
 */
export interface ThreatModel extends Threat<ThreatModel> {
  readonly kind: 'norm';
  readonly norm: Norm;
  /** The budget: ε for linf/l2/l1, the number of changed features for l0. */
  readonly eps: number;
  /** Per-example distance ‖x' − x‖ in this norm, shape [b]. */
  distance(xAdv: tf.Tensor, x: tf.Tensor): tf.Tensor1D;
  /** The same norm with ε × factor; an l0 budget is rounded down to a whole count. */
  scaled(factor: number): ThreatModel;
  /** Nearest point of the ε-ball around x (approximately, for l1/l0), then clipped into the domain. */
  project(xAdv: tf.Tensor, x: tf.Tensor, domain: Domain): tf.Tensor;
  /**
   * A random point of the ε-ball around x, clipped into the domain. With `indices` (one
   * integer per example, e.g. its index in the data set), example i draws from its own stream
   * `deriveSeed(seed, indices[i])`, so its start does not depend on the other examples of the
   * batch; without, the batch draws from tfjs's generator seeded with `seed`.
   */
  randomStart(x: tf.Tensor, domain: Domain, seed: number, indices?: ArrayLike<number>): tf.Tensor;
  /** The step of length `stepSize` (in this norm) that increases a loss with gradient `grad` fastest. */
  ascentStep(grad: tf.Tensor, stepSize: number): tf.Tensor;
}

/** Flattens a batch to [b, d]. */
export function flat(x: tf.Tensor): tf.Tensor2D {
  return tf.reshape(x, [x.shape[0]!, -1]);
}

/** Per-example Lp norm of a batch, shape [b]. */
export function batchNorm(d: tf.Tensor, norm: Norm): tf.Tensor1D {
  return tf.tidy(() => {
    const f = flat(d);
    switch (norm) {
      case 'linf':
        return tf.max(tf.abs(f), 1);
      case 'l2':
        return tf.sqrt(tf.sum(tf.square(f), 1));
      case 'l1':
        return tf.sum(tf.abs(f), 1);
      case 'l0':
        return tf.sum(tf.cast(tf.greater(tf.abs(f), 1e-7), 'float32'), 1);
    }
  }) as tf.Tensor1D;
}

/** Multiplies each example of a batch by the matching entry of `s` ([b]). */
export function scaleRows(x: tf.Tensor, s: tf.Tensor1D): tf.Tensor {
  return tf.tidy(() => tf.mul(x, tf.reshape(s, [x.shape[0]!, ...x.shape.slice(1).map(() => 1)])));
}

const TINY = 1e-12;

/**
 * Euclidean projection of each row of `v` ([b, d]) onto the l1 ball of radius eps
 * (Duchi et al. 2008: sort |v|, find the threshold θ, soft-threshold).
 */
function projectL1(v: tf.Tensor2D, eps: number): tf.Tensor2D {
  return tf.tidy(() => {
    const [b, d] = v.shape;
    const a = tf.abs(v);
    const inside = tf.lessEqual(tf.sum(a, 1), eps);
    const sorted = tf.topk(a, d).values;
    const cums = tf.cumsum(sorted, 1);
    const k = tf.reshape(tf.range(1, d + 1), [1, d]);
    const cond = tf.greater(tf.sub(sorted, tf.div(tf.sub(cums, eps), k)), 0);
    // rho: the last index where cond holds (cond is true on a prefix).
    const rho = tf.sub(tf.sum(tf.cast(cond, 'int32'), 1), tf.scalar(1, 'int32'));
    const rhoC = tf.maximum(rho, tf.scalar(0, 'int32'));
    const cumAtRho = tf.reshape(tf.gather(cums, rhoC, 1, 1), [b]);
    const theta = tf.maximum(tf.div(tf.sub(cumAtRho, eps), tf.add(tf.cast(rhoC, 'float32'), 1)), 0);
    const shrunk = tf.mul(tf.sign(v), tf.relu(tf.sub(a, tf.reshape(theta, [b, 1]))));
    return tf.where(tf.tile(tf.reshape(inside, [b, 1]), [1, d]), v, shrunk) as tf.Tensor2D;
  });
}

/** Keeps the k entries of largest magnitude in each row of `v` ([b, d]). */
function projectL0(v: tf.Tensor2D, k: number): tf.Tensor2D {
  return tf.tidy(() => {
    const d = v.shape[1];
    if (k >= d) return v.clone();
    const kth = tf.slice(tf.topk(tf.abs(v), Math.max(k, 1)).values, [0, Math.max(k, 1) - 1], [-1, 1]);
    const keep = k < 1 ? tf.zerosLike(v) : tf.cast(tf.greaterEqual(tf.abs(v), kth), 'float32');
    return tf.mul(v, keep);
  });
}

/**
 * Host-side draws of a random start, one stream per example (`deriveSeed(seed, indices[i])`):
 * `values` [b·dim] are uniform in [−1, 1) (linf, l0) or standard normal (l2, l1, by Box–Muller),
 * and for l2/l1 `radius` [b] holds one more uniform per example, drawn after its direction from
 * the same stream, so no other draw can share its seed.
 */
function perExampleDraws(norm: Norm, b: number, dim: number, seed: number, indices: ArrayLike<number>): { values: Float32Array; radius?: Float32Array } {
  if (indices.length !== b) throw new Error(`randomStart: ${indices.length} example indices for ${b} examples`);
  const values = new Float32Array(b * dim);
  const normal = norm === 'l2' || norm === 'l1';
  const radius = normal ? new Float32Array(b) : undefined;
  for (let i = 0; i < b; i++) {
    const rng = new Rng(deriveSeed(seed, indices[i]!));
    const off = i * dim;
    if (!normal) {
      for (let k = 0; k < dim; k++) values[off + k] = 2 * rng.next() - 1;
      continue;
    }
    for (let k = 0; k < dim; k += 2) {
      const u1 = 1 - rng.next();
      const u2 = rng.next();
      const m = Math.sqrt(-2 * Math.log(u1));
      values[off + k] = m * Math.cos(2 * Math.PI * u2);
      if (k + 1 < dim) values[off + k + 1] = m * Math.sin(2 * Math.PI * u2);
    }
    radius![i] = rng.next();
  }
  return { values, radius };
}

class LpThreat implements ThreatModel {
  readonly kind = 'norm' as const;
  constructor(
    readonly norm: Norm,
    readonly eps: number,
    /** l1 ascent: fraction of coordinates (by |grad|) a sparse step moves (Tramèr & Boneh 2019). */
    readonly l1Sparsity = 0.95,
  ) {}

  get budget(): number {
    return this.eps;
  }

  get measure(): string {
    return this.norm;
  }

  toString(): string {
    return `${this.norm}:${this.eps}`;
  }

  distance(xAdv: tf.Tensor, x: tf.Tensor): tf.Tensor1D {
    return tf.tidy(() => batchNorm(tf.sub(xAdv, x), this.norm));
  }

  check(x: tf.Tensor, xAdv: tf.Tensor): ThreatCheck {
    const d = this.distance(xAdv, x);
    const distance = d.dataSync() as Float32Array;
    d.dispose();
    const limit = this.eps * (1 + BUDGET_SLACK) + BUDGET_SLACK;
    return { distance, inside: Uint8Array.from(distance, (v) => (v <= limit ? 1 : 0)) };
  }

  scaled(factor: number): ThreatModel {
    return lpThreat(this.norm, this.norm === 'l0' ? Math.floor(this.eps * factor) : this.eps * factor);
  }

  project(xAdv: tf.Tensor, x: tf.Tensor, domain: Domain): tf.Tensor {
    return tf.tidy(() => {
      const d = tf.sub(xAdv, x);
      let p: tf.Tensor;
      switch (this.norm) {
        case 'linf':
          p = tf.clipByValue(d, -this.eps, this.eps);
          break;
        case 'l2': {
          const n = batchNorm(d, 'l2');
          p = scaleRows(d, tf.minimum(1, tf.div(this.eps, tf.maximum(n, TINY))) as tf.Tensor1D);
          break;
        }
        case 'l1':
          p = tf.reshape(projectL1(flat(d), this.eps), d.shape);
          break;
        case 'l0':
          p = tf.reshape(projectL0(flat(d), Math.floor(this.eps)), d.shape);
          break;
      }
      // Clipping into the box after the ball projection only moves coordinates towards x (x is
      // inside the box), so every norm of the perturbation can only shrink: the result stays feasible.
      return clipToDomain(tf.add(x, p), domain, x, this);
    });
  }

  randomStart(x: tf.Tensor, domain: Domain, seed: number, indices?: ArrayLike<number>): tf.Tensor {
    return tf.tidy(() => {
      const b = x.shape[0]!;
      const dim = x.size / b;
      const draws = indices ? perExampleDraws(this.norm, b, dim, seed, indices) : undefined;
      let delta: tf.Tensor;
      switch (this.norm) {
        case 'linf':
          delta = draws ? tf.mul(tf.tensor(draws.values, x.shape), this.eps) : tf.randomUniform(x.shape, -this.eps, this.eps, 'float32', seed);
          break;
        case 'l2':
        case 'l1': {
          // Uniform direction scaled to radius ε·u^(1/d): uniform in the l2 ball; for l1 the
          // same point projected, a cheap start that is inside the l1 ball.
          const g = draws ? tf.tensor(draws.values, x.shape) : tf.randomNormal(x.shape, 0, 1, 'float32', seed);
          const n = batchNorm(g, 'l2');
          const u = draws ? tf.tensor1d(draws.radius!) : tf.randomUniform([b], 0, 1, 'float32', deriveSeed(seed, 'radius'));
          const r = tf.mul(this.eps, tf.pow(u, 1 / dim));
          delta = scaleRows(g, tf.div(r, tf.maximum(n, TINY)) as tf.Tensor1D);
          if (this.norm === 'l1') delta = tf.reshape(projectL1(flat(delta), this.eps), x.shape);
          break;
        }
        case 'l0': {
          const u = draws ? tf.tensor(draws.values, x.shape) : tf.randomUniform(x.shape, -1, 1, 'float32', seed);
          delta = tf.reshape(projectL0(flat(u), Math.floor(this.eps)), x.shape);
          break;
        }
      }
      return clipToDomain(tf.add(x, delta), domain, x, this);
    });
  }

  ascentStep(grad: tf.Tensor, stepSize: number): tf.Tensor {
    return tf.tidy(() => {
      switch (this.norm) {
        case 'linf':
          return tf.mul(tf.sign(grad), stepSize);
        case 'l2': {
          const n = batchNorm(grad, 'l2');
          return scaleRows(grad, tf.div(stepSize, tf.maximum(n, TINY)) as tf.Tensor1D);
        }
        case 'l1':
        case 'l0': {
          // Sparse l1 descent: move only the coordinates whose |grad| is in the top (1 − sparsity)
          // share (at least one), by sign, with the step spread evenly so its l1 length is stepSize.
          const f = flat(grad);
          const [b, d] = f.shape;
          const k = this.norm === 'l0' ? Math.max(1, Math.floor(this.eps)) : Math.max(1, Math.round(d * (1 - this.l1Sparsity)));
          const kth = tf.slice(tf.topk(tf.abs(f), k).values, [0, k - 1], [b, 1]);
          const mask = tf.cast(tf.logicalAnd(tf.greaterEqual(tf.abs(f), kth), tf.greater(tf.abs(f), 0)), 'float32');
          const count = tf.maximum(tf.sum(mask, 1, true), 1);
          return tf.reshape(tf.div(tf.mul(tf.mul(tf.sign(f), mask), stepSize), count), grad.shape);
        }
      }
    });
  }
}

/**
 * Builds a norm-bounded threat model.
 *
 * @example
 * ```ts
 * const t = lpThreat('l2', 2);
 * ```
 */
export function lpThreat(norm: Norm, eps: number): ThreatModel {
  if (!NORMS.includes(norm)) throw new UserError(`unknown norm '${norm}': choose one of ${NORMS.join(', ')}`);
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new UserError(`threat budget must be a finite number ≥ 0 (got ${eps})`);
  if (norm === 'l0' && !Number.isInteger(eps)) throw new UserError(`an l0 budget counts features: give an integer (got ${eps})`);
  return new LpThreat(norm, eps);
}

/**
 * Parses the CLI form `NORM:EPS`, e.g. `linf:0.3`, `l2:2`, `l1:10`, `l0:20`.
 *
 * @example
 * ```ts
 * const t = parseThreat('linf:0.3'); // t.norm === 'linf', t.eps === 0.3
 * ```
 */
export function parseThreat(text: string): ThreatModel {
  const m = /^(linf|l2|l1|l0):([0-9.eE+-]+)$/.exec(text.trim());
  if (!m) throw new UserError(`cannot read threat model '${text}': write NORM:EPS with NORM one of ${NORMS.join(', ')}, e.g. linf:0.3`);
  return lpThreat(m[1] as Norm, Number(m[2]));
}
