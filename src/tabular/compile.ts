import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.js';
import type { Domain, Relation } from '../data/domain.js';
import { ExprSyntaxError, parseRelation, type CmpOp, type Cond, type NumExpr } from './expr.js';
import type { TabularEncoding } from './encoding.js';

/**
 * The constraint language's meaning: a parsed relation resolved against an encoding, in negation
 * normal form, evaluated three ways — on raw values (does it hold), on a model-input batch as a
 * differentiable violation, and as a repair of one model input.
 */

/** Relative tolerance added to every comparison: float32 resolution of decoded values. */
export const RELATIVE_TOLERANCE = 4e-6;
const DEFAULT_TOLERANCE = 1e-6;

type RNum =
  | { k: 'num'; v: number }
  | { k: 'col'; j: number }
  | { k: 'bin'; op: '+' | '-' | '*' | '/'; a: RNum; b: RNum }
  | { k: 'neg'; a: RNum }
  | { k: 'call'; fn: string; args: RNum[] };
type RCond =
  | { k: 'cmp'; op: '<=' | '<' | '==' | '!='; a: RNum; b: RNum; tol: number }
  | { k: 'is'; j: number; cats: number[]; neg: boolean }
  | { k: 'and' | 'or'; parts: RCond[] };

/**
 * Compiles a schema's relations into {@link Relation}s over the encoding's model inputs. A syntax
 * error, an unknown feature or category, or a feature used as the wrong kind is refused in one
 * line naming the relation's field (`relations[i].expr`).
 */
export function compileRelations(enc: TabularEncoding, immutable: ReadonlySet<number>): Relation[] {
  return (enc.schema.relations ?? []).map((spec, i) => {
    const field = `${enc.schema.name}: relations[${i}].expr (${spec.name})`;
    let tree: Cond;
    try {
      tree = parseRelation(spec.expr);
    } catch (e) {
      if (e instanceof ExprSyntaxError) throw new UserError(`${field}: column ${e.column}: ${e.message}`);
      throw e;
    }
    const cond = resolve(tree, enc, spec.tolerance ?? DEFAULT_TOLERANCE, false, (msg) => {
      throw new UserError(`${field}: ${msg}`);
    });
    return makeRelation(spec.name, cond, enc, immutable);
  });
}

function resolve(c: Cond, enc: TabularEncoding, tol: number, negate: boolean, fail: (m: string) => never): RCond {
  const num = (e: NumExpr): RNum => {
    switch (e.k) {
      case 'num':
        return e;
      case 'feat': {
        const j = enc.columnIndex(e.name);
        if (j === undefined) return fail(`unknown feature "${e.name}"`);
        if (enc.columns[j]!.kind === 'categorical') return fail(`"${e.name}" is categorical: compare it with a category, e.g. ${e.name} == "${enc.columns[j]!.categories![0]}"`);
        return { k: 'col', j };
      }
      case 'bin':
        return { k: 'bin', op: e.op, a: num(e.a), b: num(e.b) };
      case 'neg':
        return { k: 'neg', a: num(e.a) };
      case 'call':
        return { k: 'call', fn: e.fn, args: e.args.map(num) };
    }
  };
  switch (c.k) {
    case 'not':
      return resolve(c.c, enc, tol, !negate, fail);
    case 'implies':
      return { k: negate ? 'and' : 'or', parts: [resolve(c.a, enc, tol, !negate, fail), resolve(c.b, enc, tol, negate, fail)] };
    case 'and':
    case 'or': {
      const k = (c.k === 'and') !== negate ? 'and' : 'or';
      return { k, parts: c.parts.map((p) => resolve(p, enc, tol, negate, fail)) };
    }
    case 'is': {
      const j = enc.columnIndex(c.feat);
      if (j === undefined) return fail(`unknown feature "${c.feat}"`);
      const col = enc.columns[j]!;
      if (col.kind !== 'categorical') return fail(`"${c.feat}" is numeric: compare it with a number, not a category name`);
      const cats = c.cats.map((s) => {
        const k = col.categories!.indexOf(s);
        return k >= 0 ? k : fail(`"${s}" is not a category of ${c.feat} (${col.categories!.join(', ')})`);
      });
      return { k: 'is', j, cats, neg: c.neg !== negate };
    }
    case 'cmp': {
      const a = num(c.a);
      const b = num(c.b);
      const [op, x, y] = normalise(c.op, a, b);
      if (!negate) return { k: 'cmp', op, a: x, b: y, tol };
      if (op === '<=') return { k: 'cmp', op: '<', a: y, b: x, tol };
      if (op === '<') return { k: 'cmp', op: '<=', a: y, b: x, tol };
      return { k: 'cmp', op: op === '==' ? '!=' : '==', a: x, b: y, tol };
    }
  }
}

function normalise(op: CmpOp, a: RNum, b: RNum): ['<=' | '<' | '==' | '!=', RNum, RNum] {
  if (op === '>=') return ['<=', b, a];
  if (op === '>') return ['<', b, a];
  return [op, a, b];
}

// ---- raw evaluation (float64, on decoded values) ----

function rawNum(e: RNum, v: Float64Array): number {
  switch (e.k) {
    case 'num':
      return e.v;
    case 'col':
      return v[e.j]!;
    case 'neg':
      return -rawNum(e.a, v);
    case 'bin': {
      const a = rawNum(e.a, v);
      const b = rawNum(e.b, v);
      return e.op === '+' ? a + b : e.op === '-' ? a - b : e.op === '*' ? a * b : b === 0 ? 0 : a / b;
    }
    case 'call': {
      const xs = e.args.map((a) => rawNum(a, v));
      switch (e.fn) {
        case 'log':
          return Math.log(Math.max(xs[0]!, 1e-12));
        case 'log1p':
          return Math.log1p(Math.max(xs[0]!, -1 + 1e-12));
        case 'abs':
          return Math.abs(xs[0]!);
        case 'min':
          return Math.min(...xs);
        case 'max':
          return Math.max(...xs);
        case 'sum':
          return xs.reduce((s, x) => s + x, 0);
        default: // div(a, b, fill)
          return xs[1] === 0 ? xs[2]! : xs[0]! / xs[1]!;
      }
    }
  }
}

function rawHolds(c: RCond, v: Float64Array): boolean {
  switch (c.k) {
    case 'and':
      return c.parts.every((p) => rawHolds(p, v));
    case 'or':
      return c.parts.some((p) => rawHolds(p, v));
    case 'is':
      return c.cats.includes(v[c.j]!) !== c.neg;
    case 'cmp': {
      const a = rawNum(c.a, v);
      const b = rawNum(c.b, v);
      const t = c.tol + RELATIVE_TOLERANCE * Math.max(Math.abs(a), Math.abs(b));
      const d = a - b;
      return c.op === '<=' ? d <= t : c.op === '<' ? d <= -t : c.op === '==' ? Math.abs(d) <= t : Math.abs(d) > t;
    }
  }
}

// ---- differentiable violation (tensors, on continuous decoded values) ----

function tensorNum(e: RNum, cols: (j: number) => tf.Tensor1D, b: number): tf.Tensor {
  switch (e.k) {
    case 'num':
      return tf.fill([b], e.v) as tf.Tensor1D;
    case 'col':
      return cols(e.j);
    case 'neg':
      return tf.neg(tensorNum(e.a, cols, b));
    case 'bin': {
      const x = tensorNum(e.a, cols, b);
      const y = tensorNum(e.b, cols, b);
      if (e.op === '+') return tf.add(x, y);
      if (e.op === '-') return tf.sub(x, y);
      if (e.op === '*') return tf.mul(x, y);
      return safeDiv(x, y, 0);
    }
    case 'call': {
      const xs = e.args.map((a) => tensorNum(a, cols, b));
      switch (e.fn) {
        case 'log':
          return tf.log(tf.maximum(xs[0]!, 1e-12));
        case 'log1p':
          return tf.log1p(tf.maximum(xs[0]!, -1 + 1e-6));
        case 'abs':
          return tf.abs(xs[0]!);
        case 'min':
          return xs.reduce((m, x) => tf.minimum(m, x));
        case 'max':
          return xs.reduce((m, x) => tf.maximum(m, x));
        case 'sum':
          return xs.length === 1 ? xs[0]! : tf.addN(xs);
        default:
          return safeDiv(xs[0]!, xs[1]!, xs[2]!);
      }
    }
  }
}

/** a / b, `fill` where b = 0, with finite gradients everywhere. */
function safeDiv(a: tf.Tensor, b: tf.Tensor, fill: number | tf.Tensor): tf.Tensor {
  const zero = tf.equal(b, 0);
  const q = tf.div(a, tf.where(zero, tf.onesLike(b), b));
  return tf.where(zero, typeof fill === 'number' ? tf.fill(b.shape, fill) : fill, q);
}

function tensorViolation(c: RCond, x: tf.Tensor2D, enc: TabularEncoding, cols: (j: number) => tf.Tensor1D): tf.Tensor {
  const b = x.shape[0];
  switch (c.k) {
    case 'and': {
      const parts = c.parts.map((p) => tensorViolation(p, x, enc, cols));
      return parts.length === 1 ? parts[0]! : tf.addN(parts);
    }
    case 'or':
      return tf.min(tf.stack(c.parts.map((p) => tensorViolation(p, x, enc, cols)), 1), 1);
    case 'is': {
      const ind = enc.indicator(x, c.j, c.cats);
      return c.neg ? tf.relu(ind) : tf.relu(tf.sub(1, ind));
    }
    case 'cmp': {
      const a = tensorNum(c.a, cols, b);
      const y = tensorNum(c.b, cols, b);
      const t = tf.add(c.tol, tf.mul(RELATIVE_TOLERANCE, tf.maximum(tf.abs(a), tf.abs(y))));
      const d = tf.sub(a, y);
      if (c.op === '<=') return tf.relu(tf.sub(d, t));
      if (c.op === '<') return tf.relu(tf.add(d, t));
      if (c.op === '==') return tf.relu(tf.sub(tf.abs(d), t));
      return tf.relu(tf.sub(t, tf.abs(d)));
    }
  }
}

// ---- repair (one model input, in place) ----

function uses(e: RNum, j: number): boolean {
  if (e.k === 'col') return e.j === j;
  if (e.k === 'bin') return uses(e.a, j) || uses(e.b, j);
  if (e.k === 'neg') return uses(e.a, j);
  if (e.k === 'call') return e.args.some((a) => uses(a, j));
  return false;
}

function repairCond(c: RCond, x: Float32Array, enc: TabularEncoding, fixed: (j: number) => boolean): void {
  const values = () => enc.decodeValues(x);
  switch (c.k) {
    case 'and':
      for (let pass = 0; pass < 2; pass++) for (const p of c.parts) if (!rawHolds(p, values())) repairCond(p, x, enc, fixed);
      return;
    case 'or': {
      if (rawHolds(c, values())) return;
      let best: Float32Array | undefined;
      let bestCost = Infinity;
      for (const p of c.parts) {
        const trial = x.slice();
        repairCond(p, trial, enc, fixed);
        if (!rawHolds(c, enc.decodeValues(trial))) continue;
        let cost = 0;
        for (let i = 0; i < x.length; i++) cost += Math.abs(trial[i]! - x[i]!);
        if (cost < bestCost) [best, bestCost] = [trial, cost];
      }
      if (best) x.set(best);
      return;
    }
    case 'is': {
      if (fixed(c.j)) return;
      const col = enc.columns[c.j]!;
      let pick = -1;
      for (let k = 0; k < col.width; k++) {
        if (c.cats.includes(k) === c.neg) continue;
        if (pick < 0 || x[col.offset + k]! > x[col.offset + pick]!) pick = k;
      }
      if (pick >= 0) enc.setCategory(x, c.j, pick);
      return;
    }
    case 'cmp': {
      const v = values();
      const lone = (e: RNum, other: RNum) => e.k === 'col' && !fixed(e.j) && !uses(other, e.j);
      // a (op) b: move a lone, changeable side to the nearest grid value that satisfies it.
      const side = lone(c.a, c.b) ? 'a' : lone(c.b, c.a) ? 'b' : undefined;
      if (!side) return;
      const j = ((side === 'a' ? c.a : c.b) as { j: number }).j;
      const other = rawNum(side === 'a' ? c.b : c.a, v);
      const col = enc.columns[j]!;
      const t = c.tol + RELATIVE_TOLERANCE * Math.abs(other);
      const step = col.step ?? 2 * t;
      let target: number;
      if (c.op === '==') target = other;
      else if (c.op === '!=') target = other + step <= col.max ? other + step : other - step;
      else {
        // side a comes down to (at most) other, or other − margin when strict; side b goes up.
        const margin = c.op === '<' ? (col.step === undefined ? 2 * t : t) : 0;
        const bound = side === 'a' ? other - margin : other + margin;
        if (col.step === undefined) target = bound;
        else {
          const k = (bound - col.min) / col.step;
          target = col.min + (side === 'a' ? Math.floor(k + 1e-9) : Math.ceil(k - 1e-9)) * col.step;
        }
      }
      enc.setValue(x, j, target);
      return;
    }
  }
}

function makeRelation(name: string, cond: RCond, enc: TabularEncoding, immutable: ReadonlySet<number>): Relation {
  const fixed = (j: number) => {
    const col = enc.columns[j]!;
    return immutable.has(col.offset);
  };
  return {
    name,
    holds: (x) => rawHolds(cond, enc.decodeValues(x)),
    violation: (x) =>
      tf.tidy(() => {
        const cache = new Map<number, tf.Tensor1D>();
        const cols = (j: number) => {
          let t = cache.get(j);
          if (!t) cache.set(j, (t = enc.decodeColumn(x, j)));
          return t;
        };
        return tensorViolation(cond, x, enc, cols) as tf.Tensor1D;
      }),
    repair: (x) => {
      repairCond(cond, x, enc, fixed);
      return rawHolds(cond, enc.decodeValues(x));
    },
  };
}

/** Largest distance (model-input units) between a log-scaled feature and the encoding of its nearest grid value. */
const GRID_TOLERANCE = 2.5e-7;

/**
 * The relation that keeps a log-scaled feature with a grid (a byte count) on its grid, which is
 * not uniform in model-input units: the feature must equal the encoding of a grid value.
 */
export function gridRelation(enc: TabularEncoding, j: number): Relation {
  const col = enc.columns[j]!;
  const canonical = (v: number) => Math.fround(enc.encodeValue(col, enc.snap(col, enc.decodeValue(col, v))));
  const L = Math.log1p(col.max - col.min);
  return {
    name: `${col.name} is on its grid (step ${col.step})`,
    holds: (x) => Math.abs(x[col.offset]! - canonical(x[col.offset]!)) <= GRID_TOLERANCE,
    violation: (x) =>
      tf.tidy(() => {
        const v = tf.reshape(tf.slice(x, [0, col.offset], [x.shape[0], 1]), [x.shape[0]]);
        const raw = tf.expm1(tf.mul(v, L));
        const snapped = tf.mul(tf.round(tf.div(raw, col.step!)), col.step!);
        const canon = tf.div(tf.log1p(tf.clipByValue(snapped, 0, col.max - col.min)), L);
        return tf.relu(tf.sub(tf.abs(tf.sub(v, canon)), GRID_TOLERANCE)) as tf.Tensor1D;
      }),
    repair: (x) => {
      x[col.offset] = canonical(x[col.offset]!);
      return true;
    },
  };
}

/**
 * Applies every relation's repair to one model input (in place) until all hold or a few passes
 * are spent; returns whether they all hold. Immutable features are never touched.
 *
 * @example
 * ```ts
 * const ok = repairRelations(domain, row);
 * ```
 */
export function repairRelations(domain: Domain, x: Float32Array, passes = 3): boolean {
  const relations = domain.relations ?? [];
  for (let pass = 0; pass < passes; pass++) {
    let all = true;
    for (const r of relations) {
      if (r.holds(x)) continue;
      all = false;
      r.repair?.(x);
    }
    if (all) return true;
  }
  return relations.every((r) => r.holds(x));
}
