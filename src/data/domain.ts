import * as tf from '@tensorflow/tfjs-core';

/**
 * A feature that takes only the values `lower + k · step` (k an integer): an integer column in
 * the data's original units becomes such a grid after scaling.
 */
export interface IntegerFeature {
  /** Flat index of the feature within one example. */
  index: number;
  /** Grid step in the domain's units (1 when the units are the original ones). */
  step: number;
}

/** A categorical column one-hot encoded: features `offset … offset + width − 1`, exactly one of them 1, the rest 0. */
export interface OneHotGroup {
  /** Flat index of the group's first feature. */
  offset: number;
  /** Number of categories (features). */
  width: number;
  /** Column name, for messages. */
  name?: string;
}

/**
 * A constraint between features (e.g. `bytes ≥ packets · 20` in network flows). A relation
 * reads examples in the domain's units (the model's input space: flat, scaled features); one
 * compiled from a tabular schema decodes to raw units itself.
 */
export interface Relation {
  /** Short name, for messages. */
  name: string;
  /** Whether one example satisfies it (within the relation's own tolerance). */
  holds(x: Float32Array): boolean;
  /**
   * How much each example of a `[b, d]` batch violates it: ≥ 0, and 0 exactly where it holds
   * (`a ≤ b` → max(0, a − b); OR → min of its parts; AND → sum). Differentiable, so a
   * constrained attack can subtract it from its loss. The caller disposes the result.
   */
  violation(x: tf.Tensor2D): tf.Tensor1D;
  /**
   * Makes one example satisfy the relation in place where a closed form exists (e.g. sets an
   * equality's dependent feature), touching only features that are not immutable. Returns
   * whether the example now satisfies it. Absent when the relation has no repair.
   */
  repair?(x: Float32Array, clean?: Float32Array): boolean;
}

/**
 * The set of valid inputs. Always a box — one interval for every feature (images in [0, 1]) or
 * one interval per feature (tabular data) — and optionally, for tabular data, per-feature types
 * (integer grids, one-hot groups), features an attacker cannot change, and relations between
 * features. Attacks map their candidates into it with {@link repair}; results are checked with
 * {@link isFeasible}. A domain with no types, no immutables and no relations is a plain box
 * ({@link isBox}) and takes the box's fast path everywhere.
 *
 * @example
 * ```ts
 * const pixels: Domain = { lower: 0, upper: 1 };
 * const tabular: Domain = {
 *   lower: Float32Array.from([0, 0, 0, 0]), upper: Float32Array.from([1, 1, 1, 1]),
 *   integers: [{ index: 0, step: 0.25 }], oneHot: [{ offset: 1, width: 3, name: 'proto' }], immutable: [0],
 * };
 * ```
 */
export interface Domain {
  lower: number | Float32Array;
  upper: number | Float32Array;
  /** Features restricted to an integer grid. */
  integers?: readonly IntegerFeature[];
  /** Categorical features, one-hot encoded. */
  oneHot?: readonly OneHotGroup[];
  /** Flat indices of features that keep their clean value (e.g. a protocol an attacker cannot choose). */
  immutable?: readonly number[];
  /** Constraints between features, checked by {@link isFeasible}. */
  relations?: readonly Relation[];
  /**
   * How {@link repair} moves integer features onto their grid around a clean input:
   * `'towards-clean'` (the default) truncates towards the clean value, so no coordinate ends
   * further from it than the candidate was; `'nearest'` rounds to the nearest grid value, so a
   * step of more than half a grid cell counts (an attack can cross a cell boundary) — and
   * {@link repairInBall} falls back to truncation for an example that rounding would take out of
   * the threat's ball. Without a clean input both round to the nearest grid value.
   */
  integerRounding?: 'towards-clean' | 'nearest';
}

/** The unit box [0, 1] every image data set uses. */
export const UNIT_BOX: Domain = { lower: 0, upper: 1 };

/** Lower and upper bound of feature `i` (per-feature arrays are indexed modulo their length). */
export function boundsOf(domain: Domain, i: number): [number, number] {
  const lo = typeof domain.lower === 'number' ? domain.lower : domain.lower[i % domain.lower.length]!;
  const hi = typeof domain.upper === 'number' ? domain.upper : domain.upper[i % domain.upper.length]!;
  return [lo, hi];
}

/**
 * Whether the domain is only a box: no feature types, immutables or relations.
 *
 * @example
 * ```ts
 * isBox(UNIT_BOX); // true
 * ```
 */
export function isBox(domain: Domain): boolean {
  return !domain.integers?.length && !domain.oneHot?.length && !domain.immutable?.length && !domain.relations?.length;
}

/** Clips a batch into the box: scalar bounds by clipByValue, per-feature bounds broadcast over the batch. */
export function clipToBox(x: tf.Tensor, domain: Domain): tf.Tensor {
  if (typeof domain.lower === 'number' && typeof domain.upper === 'number') {
    return tf.clipByValue(x, domain.lower, domain.upper);
  }
  return tf.tidy(() => {
    const shape = x.shape.slice(1);
    const bound = (b: number | Float32Array) => (typeof b === 'number' ? tf.scalar(b) : tf.tensor(b, shape));
    return tf.minimum(tf.maximum(x, bound(domain.lower)), bound(domain.upper));
  });
}

/** Per-feature lower bound as a flat array of length `d`. */
function lowerArray(domain: Domain, d: number): Float32Array {
  return Float32Array.from({ length: d }, (_, i) => boundsOf(domain, i)[0]);
}

/**
 * Maps a batch into the domain (a tensor op; the caller disposes the result):
 * 1. clip to the box;
 * 2. integer features onto their grid — to the nearest grid value, or with `clean` given,
 *    truncated towards the clean value, so no coordinate moves further from the clean input than
 *    it was (a perturbation inside any lp ball stays inside it), unless the domain's
 *    `integerRounding` is `'nearest'`;
 * 3. one-hot groups to a vertex: the category of largest value gets 1, the others 0;
 * 4. immutable features back to their `clean` values (when `clean` is given).
 * A plain box ({@link isBox}) is step 1 alone, the same operation as before domains had types.
 *
 * Step 3 may move a group away from the clean input; {@link repairInBall} keeps the result
 * inside a threat's ball.
 *
 * @example
 * ```ts
 * const feasible = repair(domain, xAdv, x);
 * ```
 */
export function repair(domain: Domain, x: tf.Tensor, clean?: tf.Tensor): tf.Tensor {
  if (isBox(domain)) return clipToBox(x, domain);
  return tf.tidy(() => {
    const b = x.shape[0]!;
    const d = x.size / b;
    let f = tf.reshape(clipToBox(x, domain), [b, d]);
    const c = clean ? tf.reshape(clean, [b, d]) : undefined;
    if (domain.integers?.length) {
      const step = new Float32Array(d).fill(1);
      const mask = new Float32Array(d);
      for (const g of domain.integers) {
        step[g.index] = g.step;
        mask[g.index] = 1;
      }
      const stepT = tf.tensor1d(step);
      const origin = c ?? tf.tensor1d(lowerArray(domain, d));
      const k = tf.div(tf.sub(f, origin), stepT);
      const towardsClean = c && domain.integerRounding !== 'nearest';
      const snapped = tf.add(origin, tf.mul(towardsClean ? tf.mul(tf.sign(k), tf.floor(tf.add(tf.abs(k), 1e-4))) : tf.round(k), stepT));
      f = blend(tf.tensor1d(mask), clipToBox(snapped, { lower: flatBound(domain.lower, d), upper: flatBound(domain.upper, d) }), f);
    }
    if (domain.oneHot?.length) f = projectOneHot(f, domain.oneHot, d);
    if (c && domain.immutable?.length) {
      const mask = new Float32Array(d);
      for (const i of domain.immutable) mask[i] = 1;
      f = blend(tf.tensor1d(mask), c, f);
    }
    return tf.reshape(f, x.shape);
  });
}

/**
 * `mask · a + (1 − mask) · b` for a 0/1 float mask that broadcasts against `[b, d]` (a feature
 * mask `[d]` or a row mask `[b, 1]`): the same values as `tf.where` on finite inputs, without
 * broadcasting a bool mask to the batch's shape, which tfjs does by a tile that cost more than
 * the rest of a tabular repair.
 */
function blend(mask: tf.Tensor, a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.add(tf.mul(a, mask), tf.mul(b, tf.sub(1, mask)));
}

function flatBound(v: number | Float32Array, d: number): number | Float32Array {
  return typeof v === 'number' ? v : v.length === d ? v : Float32Array.from({ length: d }, (_, i) => v[i % v.length]!);
}

/** Replaces each one-hot group of a [b, d] batch by the vertex of its largest entry. */
function projectOneHot(f: tf.Tensor, groups: readonly OneHotGroup[], d: number): tf.Tensor {
  const sorted = [...groups].sort((a, z) => a.offset - z.offset);
  const b = f.shape[0]!;
  const parts: tf.Tensor[] = [];
  let at = 0;
  for (const g of sorted) {
    if (g.offset > at) parts.push(tf.slice(f, [0, at], [b, g.offset - at]));
    const block = tf.slice(f, [0, g.offset], [b, g.width]);
    parts.push(tf.cast(tf.oneHot(tf.argMax(block, 1), g.width), 'float32'));
    at = g.offset + g.width;
  }
  if (at < d) parts.push(tf.slice(f, [0, at], [b, d - at]));
  return tf.concat(parts, 1);
}

/** The part of a threat model {@link repairInBall} needs: its distance and budget. */
export interface Ball {
  eps: number;
  distance(xAdv: tf.Tensor, x: tf.Tensor): tf.Tensor1D;
}

/**
 * {@link repair} that stays inside a threat's ball around `clean`, given a candidate that is
 * inside it: where moving a one-hot group to its vertex would leave the ball, that example's
 * groups keep their clean categories instead (every coordinate then lies at most as far from
 * the clean input as in the candidate, so the result is inside the ball and feasible). With
 * `integerRounding: 'nearest'`, an example whose rounded integers leave the ball is repaired with
 * truncation towards the clean input instead.
 *
 * @example
 * ```ts
 * const next = repairInBall(domain, tf.add(x, delta), x, threat);
 * ```
 */
export function repairInBall(domain: Domain, x: tf.Tensor, clean: tf.Tensor, ball: Ball): tf.Tensor {
  if (isBox(domain)) return clipToBox(x, domain);
  if (domain.integerRounding === 'nearest' && domain.integers?.length) return nearestInBall(domain, x, clean, ball);
  const r = repair(domain, x, clean);
  if (!domain.oneHot?.length) return r;
  return tf.tidy(() => {
    const b = x.shape[0]!;
    const d = x.size / b;
    const mask = new Float32Array(d);
    for (const g of domain.oneHot!) mask.fill(1, g.offset, g.offset + g.width);
    const kept = tf.reshape(blend(tf.tensor1d(mask), tf.reshape(clean, [b, d]), tf.reshape(r, [b, d])), x.shape);
    const out = selectRows(insideBall(ball, r, clean), r, kept);
    r.dispose();
    return out;
  });
}

/** Per example (bool `[b]`): whether `p` lies inside the ball around `clean`, up to float32 rounding. */
function insideBall(ball: Ball, p: tf.Tensor, clean: tf.Tensor): tf.Tensor {
  return tf.lessEqual(ball.distance(p, clean), ball.eps * (1 + 1e-6) + 1e-6);
}

/** Rows of a `[b, …]` batch: where `inside` (bool `[b]`) from `a`, else from `b`. */
function selectRows(inside: tf.Tensor, a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const n = a.shape[0]!;
  const d = a.size / n;
  return tf.reshape(blend(tf.cast(tf.reshape(inside, [n, 1]), 'float32'), tf.reshape(a, [n, d]), tf.reshape(b, [n, d])), a.shape);
}

/** {@link repairInBall} with integers rounded to the nearest grid value where that stays inside the ball, truncated towards the clean input elsewhere. */
function nearestInBall(domain: Domain, x: tf.Tensor, clean: tf.Tensor, ball: Ball): tf.Tensor {
  return tf.tidy(() => {
    const near = repair(domain, x, clean);
    const inside = insideBall(ball, near, clean);
    if (tf.all(inside).dataSync()[0]) return near;
    const safe = repairInBall({ ...domain, integerRounding: 'towards-clean' }, x, clean, ball);
    return selectRows(inside, near, safe);
  });
}

/** Tolerance of the feasibility check: float32 arithmetic of projections. */
const TOL = 1e-5;

/**
 * Why one example is not in the domain, or undefined when it is: box, integer grid, one-hot
 * groups (exact 0/1 with one 1), immutables (against `clean`, when given) and relations.
 * `x` and `clean` hold one example.
 *
 * @example
 * ```ts
 * const why = infeasibility(domain, row); // e.g. 'one-hot group proto is not a single category'
 * ```
 */
export function infeasibility(domain: Domain, x: Float32Array, clean?: Float32Array): string | undefined {
  const { lower, upper } = domain;
  // boundsOf without its pair, and per-feature bounds of the row's length read directly: this runs for every candidate record of the tabular attacks.
  if (typeof lower !== 'number' && typeof upper !== 'number' && lower.length === x.length && upper.length === x.length) {
    for (let i = 0; i < x.length; i++) {
      if (!(x[i]! >= lower[i]! - TOL && x[i]! <= upper[i]! + TOL)) return `feature ${i} = ${x[i]} lies outside [${lower[i]}, ${upper[i]}]`;
    }
  } else {
    for (let i = 0; i < x.length; i++) {
      const lo = typeof lower === 'number' ? lower : lower[i % lower.length]!;
      const hi = typeof upper === 'number' ? upper : upper[i % upper.length]!;
      if (!(x[i]! >= lo - TOL && x[i]! <= hi + TOL)) return `feature ${i} = ${x[i]} lies outside [${lo}, ${hi}]`;
    }
  }
  for (const g of domain.integers ?? []) {
    const origin = clean ? clean[g.index]! : boundsOf(domain, g.index)[0];
    const k = (x[g.index]! - origin) / g.step;
    if (Math.abs(k - Math.round(k)) * g.step > TOL) return `feature ${g.index} = ${x[g.index]} is off its integer grid (step ${g.step})`;
  }
  for (const g of domain.oneHot ?? []) {
    let ones = 0;
    for (let j = g.offset; j < g.offset + g.width; j++) {
      const v = x[j]!;
      if (Math.abs(v - 1) <= TOL) ones++;
      else if (Math.abs(v) > TOL) return `one-hot group ${g.name ?? g.offset} has a fractional entry ${v} (feature ${j})`;
    }
    if (ones !== 1) return `one-hot group ${g.name ?? g.offset} has ${ones} categories set; exactly one must be`;
  }
  if (clean) {
    for (const i of domain.immutable ?? []) {
      if (Math.abs(x[i]! - clean[i]!) > TOL) return `immutable feature ${i} changed from ${clean[i]} to ${x[i]}`;
    }
  }
  for (const r of domain.relations ?? []) if (!r.holds(x)) return `relation ${r.name} does not hold`;
  return undefined;
}

/**
 * Whether every example of a batch lies in the domain (see {@link infeasibility}); with `clean`,
 * immutable features must also keep their clean values.
 *
 * @example
 * ```ts
 * assert.ok(isFeasible(domain, xAdv, x));
 * ```
 */
export function isFeasible(domain: Domain, x: tf.Tensor, clean?: tf.Tensor): boolean {
  const b = x.shape[0]!;
  const d = x.size / b;
  const data = x.dataSync() as Float32Array;
  const c = clean?.dataSync() as Float32Array | undefined;
  for (let k = 0; k < b; k++) {
    if (infeasibility(domain, data.subarray(k * d, (k + 1) * d), c?.subarray(k * d, (k + 1) * d)) !== undefined) return false;
  }
  return true;
}
