import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.js';
import type { Domain, Relation } from '../data/domain.js';
import { ExprSyntaxError, parseRelation, type CmpOp, type Cond, type NumExpr } from './expr.js';
import { DecodedBatch, type TabularEncoding } from './encoding.js';
import { columnsOf, DEFAULT_TOLERANCE, magnitudeBound, rawHolds, RELATIVE_TOLERANCE, STATIC_BOUND, type RCond, type RNum } from './relation-ir.js';
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
      const bounds = (j: number): [number, number] => [enc.columns[j]!.min, enc.columns[j]!.max];
      const [bx, by] = [magnitudeBound(x, bounds), magnitudeBound(y, bounds)];
      const m = bx && by ? Math.max(...bx.map(Math.abs), ...by.map(Math.abs)) : Infinity;
      const t = { tol, ...(m <= STATIC_BOUND ? { fixedTol: tol + RELATIVE_TOLERANCE * m } : {}) };
      if (!negate) return { k: 'cmp', op, a: x, b: y, ...t };
      if (op === '<=') return { k: 'cmp', op: '<', a: y, b: x, ...t };
      if (op === '<') return { k: 'cmp', op: '<=', a: y, b: x, ...t };
      return { k: 'cmp', op: op === '==' ? '!=' : '==', a: x, b: y, ...t };
    }
  }
}

function normalise(op: CmpOp, a: RNum, b: RNum): ['<=' | '<' | '==' | '!=', RNum, RNum] {
  if (op === '>=') return ['<=', b, a];
  if (op === '>') return ['<', b, a];
  return [op, a, b];
}

// ---- differentiable violation (tensors, on continuous decoded values) ----

function tensorNum(e: RNum, batch: DecodedBatch): tf.Tensor {
  const sub = (f: RNum) => tensorNum(f, batch);
  switch (e.k) {
    case 'num':
      return tf.scalar(e.v);
    case 'col':
      return batch.column(e.j);
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
        const zero = isZero(y);
        return tf.mul(tf.mod(p, tf.add(y, zero)), tf.sub(1, zero));
      }
      return safeDiv(p, y, 0);
    }
    case 'count': {
      // piecewise constant: how many parts have no violation (its gradient is zero)
      const held = e.conds.map((c) => tf.sub(1, tf.sign(tensorViolation(c, batch))));
      return held.length === 1 ? held[0]! : tf.addN(held);
    }
    case 'call': {
      const xs = e.args.map(sub);
      switch (e.fn) {
        case 'log': {
          const pos = tf.relu(tf.sign(xs[0]!)); // 1 where x > 0
          const l = tf.log(tf.add(tf.mul(xs[0]!, pos), tf.sub(1, pos)));
          return tf.add(tf.mul(l, pos), tf.mul(xs[1] ?? Math.log(1e-12), tf.sub(1, pos)));
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
  const zero = isZero(b);
  const q = tf.div(a, tf.add(b, zero));
  return tf.add(tf.mul(q, tf.sub(1, zero)), tf.mul(fill, zero));
}

/**
 * 1 where `t` is 0, else 0 — built from sign, whose gradient is zero, because the comparison ops
 * have no gradient in tfjs and a mask made with them breaks backpropagation through it.
 */
function isZero(t: tf.Tensor): tf.Tensor {
  return tf.sub(1, tf.abs(tf.sign(t)));
}

function tensorViolation(c: RCond, batch: DecodedBatch): tf.Tensor {
  switch (c.k) {
    case 'and': {
      const simple = batch.shared ? c.parts.filter((p) => simpleAtom(p, batch.enc) !== undefined) : [];
      const parts = c.parts.filter((p) => !simple.includes(p)).map((p) => tensorViolation(p, batch));
      if (simple.length > 1) parts.push(simpleAtomsViolation(simple.map((p) => simpleAtom(p, batch.enc)!), batch));
      else parts.push(...simple.map((p) => tensorViolation(p, batch)));
      return parts.length === 1 ? parts[0]! : tf.addN(parts);
    }
    case 'or':
      return tf.min(tf.stack(c.parts.map((p) => tensorViolation(p, batch)), 1), 1);
    case 'is': {
      const ind = batch.entries(c.j, c.cats);
      return c.neg ? tf.relu(ind) : tf.relu(tf.sub(1, ind));
    }
    case 'cmp': {
      const a = tensorNum(c.a, batch);
      const y = tensorNum(c.b, batch);
      const t = c.fixedTol ?? tf.add(c.tol, tf.mul(RELATIVE_TOLERANCE, tf.maximum(tf.abs(a), tf.abs(y))));
      const d = c.b.k === 'num' && c.b.v === 0 ? a : tf.sub(a, y);
      let v: tf.Tensor;
      if (c.op === '<=') v = tf.relu(tf.sub(d, t));
      else if (c.op === '<') v = tf.relu(tf.add(d, t));
      else if (c.op === '==') v = tf.relu(tf.sub(tf.abs(d), t));
      else v = tf.relu(tf.sub(t, tf.abs(d)));
      return v.rank === 0 ? tf.broadcastTo(v, [batch.size]) : v;
    }
  }
}

/** `feature op constant` (either side) with a fixed tolerance: many of them are evaluated as one vector op. */
interface SimpleAtom {
  index: number;
  constant: number;
  /** +1: feature on the left; −1: on the right. */
  sign: number;
  op: '<=' | '<' | '==' | '!=';
  tol: number;
}

function simpleAtom(c: RCond, enc: TabularEncoding): SimpleAtom | undefined {
  if (c.k !== 'cmp' || c.fixedTol === undefined) return undefined;
  const [col, k, sign] = c.a.k === 'col' && c.b.k === 'num' ? [c.a, c.b, 1] : c.b.k === 'col' && c.a.k === 'num' ? [c.b, c.a, -1] : [];
  if (!col || !k) return undefined;
  return { index: enc.columns[col.j]!.offset, constant: k.v, sign: sign!, op: c.op, tol: c.fixedTol };
}

/**
 * The summed violations of simple atoms in one pass: gather their features, then
 * `≤`/`<`: relu(s·(v − c) ∓ t), `==`: relu(|v − c| − t), `!=`: relu(t − |v − c|).
 */
function simpleAtomsViolation(atoms: SimpleAtom[], batch: DecodedBatch): tf.Tensor {
  const groups = [atoms.filter((a) => a.op === '<=' || a.op === '<'), atoms.filter((a) => a.op === '=='), atoms.filter((a) => a.op === '!=')];
  const parts: tf.Tensor[] = [];
  groups.forEach((g, kind) => {
    if (!g.length) return;
    const v = tf.sub(tf.gather(batch.matrix(), g.map((a) => a.index), 1), tf.tensor1d(g.map((a) => a.constant)));
    const t = tf.tensor1d(g.map((a) => (kind === 0 && a.op === '<=' ? -a.tol : a.tol)));
    let out: tf.Tensor;
    if (kind === 0) out = tf.relu(tf.add(tf.mul(v, tf.tensor1d(g.map((a) => a.sign))), t));
    else if (kind === 1) out = tf.relu(tf.sub(tf.abs(v), t));
    else out = tf.relu(tf.sub(t, tf.abs(v)));
    parts.push(tf.sum(out, 1));
  });
  return parts.length === 1 ? parts[0]! : tf.addN(parts);
}

/** A relation compiled from a schema: it can also read a batch decoded once for many relations. */
interface CompiledRelation extends Relation {
  violationOn(batch: DecodedBatch): tf.Tensor1D;
  enc: TabularEncoding;
  /** {@link Relation.repair}, preferring changes `accept` approves (see `repairRelations`). */
  repairWith(x: Float32Array, accept: (x: Float32Array) => boolean): boolean;
}

function makeRelation(name: string, cond: RCond, enc: TabularEncoding, immutable: ReadonlySet<number>): CompiledRelation {
  const fixed = (j: number) => {
    const col = enc.columns[j]!;
    return immutable.has(col.offset);
  };
  const used = [...columnsOf(cond)];
  const scratch = new Float64Array(enc.columns.length);
  return {
    name,
    holds: (x) => rawHolds(cond, enc.decodeValues(x, used, scratch)),
    violation: (x) => tf.tidy(() => tensorViolation(cond, new DecodedBatch(enc, x)) as tf.Tensor1D),
    violationOn: (batch) => tensorViolation(cond, batch) as tf.Tensor1D,
    enc,
    repair: (x) => {
      repairCond(cond, x, enc, fixed);
      return rawHolds(cond, enc.decodeValues(x, used, scratch));
    },
    repairWith: (x, accept) => {
      repairCond(cond, x, enc, fixed, accept);
      return rawHolds(cond, enc.decodeValues(x, used, scratch));
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
    holds: (x) => Math.abs(x[col.offset]! - Math.fround(enc.encodeValue(col, enc.decodeAt(x, j)))) <= GRID_TOLERANCE,
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
    const relations = domain.relations ?? [];
    const compiled = (r: Relation): r is CompiledRelation => 'violationOn' in r;
    const first = relations.find(compiled);
    const batch = first ? new DecodedBatch(first.enc, x, true) : undefined;
    const parts = relations.map((r) => (compiled(r) && r.enc === batch?.enc ? r.violationOn(batch) : r.violation(x)));
    if (parts.length === 0) return tf.zeros([x.shape[0]]) as tf.Tensor1D;
    return (parts.length === 1 ? parts[0]! : tf.addN(parts)) as tf.Tensor1D;
  });
}
