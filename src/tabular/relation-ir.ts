import type { BinOp } from './expr.js';

/**
 * The resolved form of a relation (negation normal form, features as column indices) and its
 * evaluation on raw values — shared by compile.ts (holds, violation) and relation-repair.ts.
 */

/**
 * Relative tolerance added to every comparison (float32 resolution of decoded values): times the
 * larger magnitude the two sides can take, from the features' bounds, when that is at most
 * {@link STATIC_BOUND}; else times the larger magnitude of the two values themselves.
 */
export const RELATIVE_TOLERANCE = 4e-6;
export const STATIC_BOUND = 1e4;

/** The tolerance of comparison `c` between values `a` and `b`. */
export function toleranceOf(c: { tol: number; fixedTol?: number }, a: number, b: number): number {
  return c.fixedTol ?? c.tol + RELATIVE_TOLERANCE * Math.max(Math.abs(a), Math.abs(b));
}

/** An interval bound on an expression's values from the columns' bounds, or undefined when not known. */
export function magnitudeBound(e: RNum, colBounds: (j: number) => [number, number]): [number, number] | undefined {
  const b = (f: RNum) => magnitudeBound(f, colBounds);
  switch (e.k) {
    case 'num':
      return [e.v, e.v];
    case 'col':
      return colBounds(e.j);
    case 'neg': {
      const r = b(e.a);
      return r && [-r[1], -r[0]];
    }
    case 'count':
      return [0, e.conds.length];
    case 'bin': {
      const [x, y] = [b(e.a), b(e.b)];
      if (!x || !y) return undefined;
      if (e.op === '+') return [x[0] + y[0], x[1] + y[1]];
      if (e.op === '-') return [x[0] - y[1], x[1] - y[0]];
      if (e.op === '*') {
        const p = [x[0] * y[0], x[0] * y[1], x[1] * y[0], x[1] * y[1]];
        return [Math.min(...p), Math.max(...p)];
      }
      return undefined;
    }
    case 'call': {
      const rs = e.args.map(b);
      if (rs.some((r) => !r)) return undefined;
      const r = rs as [number, number][];
      if (e.fn === 'sum') return [r.reduce((s, q) => s + q[0], 0), r.reduce((s, q) => s + q[1], 0)];
      if (e.fn === 'min') return [Math.min(...r.map((q) => q[0])), Math.min(...r.map((q) => q[1]))];
      if (e.fn === 'max') return [Math.max(...r.map((q) => q[0])), Math.max(...r.map((q) => q[1]))];
      if (e.fn === 'abs') return [0, Math.max(Math.abs(r[0]![0]), Math.abs(r[0]![1]))];
      return undefined;
    }
  }
}
export const DEFAULT_TOLERANCE = 1e-6;

export type RNum =
  | { k: 'num'; v: number }
  | { k: 'col'; j: number }
  | { k: 'bin'; op: BinOp; a: RNum; b: RNum }
  | { k: 'count'; conds: RCond[] }
  | { k: 'neg'; a: RNum }
  | { k: 'call'; fn: string; args: RNum[] };
export type RCond =
  | {
      k: 'cmp';
      op: '<=' | '<' | '==' | '!=';
      a: RNum;
      b: RNum;
      tol: number;
      /** The whole tolerance, when the sides' magnitudes have a small static bound (else it grows with the values). */
      fixedTol?: number;
    }
  | { k: 'is'; j: number; cats: number[]; neg: boolean }
  | { k: 'and' | 'or'; parts: RCond[] };


export function rawNum(e: RNum, v: Float64Array): number {
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
      switch (e.op) {
        case '+':
          return a + b;
        case '-':
          return a - b;
        case '*':
          return a * b;
        case '^':
          return Math.pow(a, b);
        case '%':
          return b === 0 ? 0 : a - Math.floor(a / b) * b;
        default:
          return b === 0 ? 0 : a / b;
      }
    }
    case 'count':
      return e.conds.filter((c) => rawHolds(c, v)).length;
    case 'call': {
      const xs = e.args.map((a) => rawNum(a, v));
      switch (e.fn) {
        case 'log':
          return xs[0]! > 0 ? Math.log(xs[0]!) : (xs[1] ?? Math.log(1e-12));
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

export function rawHolds(c: RCond, v: Float64Array): boolean {
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
      const t = toleranceOf(c, a, b);
      const d = a - b;
      return c.op === '<=' ? d <= t : c.op === '<' ? d <= -t : c.op === '==' ? Math.abs(d) <= t : Math.abs(d) > t;
    }
  }
}

/** The columns a relation reads. */
export function columnsOf(c: RCond, out = new Set<number>()): Set<number> {
  const num = (e: RNum): void => {
    if (e.k === 'col') out.add(e.j);
    else if (e.k === 'bin') [e.a, e.b].forEach(num);
    else if (e.k === 'neg') num(e.a);
    else if (e.k === 'call') e.args.forEach(num);
    else if (e.k === 'count') e.conds.forEach((c) => columnsOf(c, out));
  };
  if (c.k === 'cmp') [c.a, c.b].forEach(num);
  else if (c.k === 'is') out.add(c.j);
  else c.parts.forEach((p) => columnsOf(p, out));
  return out;
}

/** Whether expression `e` reads column `j`. */
export function uses(e: RNum, j: number): boolean {
  if (e.k === 'col') return e.j === j;
  if (e.k === 'bin') return uses(e.a, j) || uses(e.b, j);
  if (e.k === 'neg') return uses(e.a, j);
  if (e.k === 'call') return e.args.some((a) => uses(a, j));
  if (e.k === 'count') return e.conds.some((c) => columnsOf(c).has(j));
  return false;
}
