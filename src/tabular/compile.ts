import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.js';
import type { Domain, Relation } from '../data/domain.js';
import { ExprSyntaxError, parseRelation, type CmpOp, type Cond, type NumExpr } from './expr.js';
import type { TabularEncoding } from './encoding.js';
import { columnsOf, DEFAULT_TOLERANCE, rawHolds, RELATIVE_TOLERANCE, type RCond, type RNum } from './relation-ir.js';
import { repairCond } from './relation-repair.js';

/**
 * The constraint language's meaning: a parsed relation resolved against an encoding, in negation
 * normal form, evaluated three ways — on raw values (does it hold), on a model-input batch as a
 * differentiable violation, and as a repair of one model input.
 */


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
      case 'count':
        return { k: 'count', conds: e.conds.map((c) => resolve(c, enc, tol, false, fail)) };
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

// ---- differentiable violation (tensors, on continuous decoded values) ----

function tensorNum(e: RNum, cols: (j: number) => tf.Tensor1D, b: number, x: tf.Tensor2D, enc: TabularEncoding): tf.Tensor {
  const sub = (f: RNum) => tensorNum(f, cols, b, x, enc);
  switch (e.k) {
    case 'num':
      return tf.fill([b], e.v) as tf.Tensor1D;
    case 'col':
      return cols(e.j);
    case 'neg':
      return tf.neg(sub(e.a));
    case 'bin': {
      const p = sub(e.a);
      const y = sub(e.b);
      if (e.op === '+') return tf.add(p, y);
      if (e.op === '-') return tf.sub(p, y);
      if (e.op === '*') return tf.mul(p, y);
      if (e.op === '^') return tf.pow(p, y);
      if (e.op === '%') {
        const zero = tf.equal(y, 0);
        return tf.where(zero, tf.zerosLike(p), tf.mod(p, tf.where(zero, tf.onesLike(y), y)));
      }
      return safeDiv(p, y, 0);
    }
    case 'count': {
      // piecewise constant: how many parts have no violation (its gradient is zero)
      const held = e.conds.map((c) => tf.cast(tf.equal(tensorViolation(c, x, enc, cols), 0), 'float32'));
      return held.length === 1 ? held[0]! : tf.addN(held);
    }
    case 'call': {
      const xs = e.args.map(sub);
      switch (e.fn) {
        case 'log': {
          const pos = tf.greater(xs[0]!, 0);
          const l = tf.log(tf.where(pos, xs[0]!, tf.onesLike(xs[0]!)));
          return tf.where(pos, l, xs[1] ?? tf.fill([b], Math.log(1e-12)));
        }
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
      const a = tensorNum(c.a, cols, b, x, enc);
      const y = tensorNum(c.b, cols, b, x, enc);
      const t = tf.add(c.tol, tf.mul(RELATIVE_TOLERANCE, tf.maximum(tf.abs(a), tf.abs(y))));
      const d = tf.sub(a, y);
      if (c.op === '<=') return tf.relu(tf.sub(d, t));
      if (c.op === '<') return tf.relu(tf.add(d, t));
      if (c.op === '==') return tf.relu(tf.sub(tf.abs(d), t));
      return tf.relu(tf.sub(t, tf.abs(d)));
    }
  }
}

function makeRelation(name: string, cond: RCond, enc: TabularEncoding, immutable: ReadonlySet<number>): Relation {
  const fixed = (j: number) => {
    const col = enc.columns[j]!;
    return immutable.has(col.offset);
  };
  const used = [...columnsOf(cond)];
  const scratch = new Float64Array(enc.columns.length);
  return {
    name,
    holds: (x) => rawHolds(cond, enc.decodeValues(x, used, scratch)),
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
 * The summed violation of every relation of a domain on a `[b, d]` batch (`[b]`, differentiable;
 * zeros when it has none): the term a constrained attack subtracts from its loss.
 *
 * @example
 * ```ts
 * const { test } = loadNslKdd();
 * const v = totalViolation(test.domain, tf.tensor2d(test.x.slice(0, 4 * test.encoding.d), [4, test.encoding.d])); // [0, 0, 0, 0]
 * ```
 */
export function totalViolation(domain: Domain, x: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const parts = (domain.relations ?? []).map((r) => r.violation(x));
    if (parts.length === 0) return tf.zeros([x.shape[0]]) as tf.Tensor1D;
    return (parts.length === 1 ? parts[0]! : tf.addN(parts)) as tf.Tensor1D;
  });
}
