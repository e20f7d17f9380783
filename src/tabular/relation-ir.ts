import type { BinOp } from './expr.js';

/**
 * The resolved form of a relation (negation normal form, features as column indices) and its
 * evaluation on raw values — shared by compile.ts (holds, violation) and relation-repair.ts.
 */

/** Relative tolerance added to every comparison: float32 resolution of decoded values. */
export const RELATIVE_TOLERANCE = 4e-6;
export const DEFAULT_TOLERANCE = 1e-6;

export type RNum =
  | { k: 'num'; v: number }
  | { k: 'col'; j: number }
  | { k: 'bin'; op: BinOp; a: RNum; b: RNum }
  | { k: 'count'; conds: RCond[] }
  | { k: 'neg'; a: RNum }
  | { k: 'call'; fn: string; args: RNum[] };
export type RCond =
  | { k: 'cmp'; op: '<=' | '<' | '==' | '!='; a: RNum; b: RNum; tol: number }
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
      const t = c.tol + RELATIVE_TOLERANCE * Math.max(Math.abs(a), Math.abs(b));
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
