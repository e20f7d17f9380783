import type { Domain } from '../data/domain.js';
import type { TabularEncoding } from './encoding.js';
import { columnsOf, rawHolds, rawNum, uses, type RCond, type RNum } from './relation-ir.js';

/**
 * Repairs of one model input, in place: a relation is made to hold by moving the features the
 * attacker controls as little as possible.
 */

const columnsCache = new WeakMap<RCond, number[]>();

/**
 * The raw values of the columns `c` reads (the others stay 0): a repair decodes after every trial
 * change, and decoding all of a record's columns each time was most of a repair's cost.
 */
function decodeFor(c: RCond, x: Float32Array, enc: TabularEncoding): Float64Array {
  let used = columnsCache.get(c);
  if (!used) columnsCache.set(c, (used = [...columnsOf(c)]));
  return enc.decodeValues(x, used);
}

/**
 * Makes `c` hold on `x` where it can, changing only columns that are not `fixed`. Where there is
 * a choice (the parts of an OR), the cheapest change that `accept`s (e.g. keeps the other
 * relations holding) wins, else the cheapest.
 */
export function repairCond(c: RCond, x: Float32Array, enc: TabularEncoding, fixed: (j: number) => boolean, accept?: (x: Float32Array) => boolean): void {
  switch (c.k) {
    case 'and':
      for (let pass = 0; pass < 2; pass++) for (const p of c.parts) if (!rawHolds(p, decodeFor(p, x, enc))) repairCond(p, x, enc, fixed, accept);
      return;
    case 'or': {
      if (rawHolds(c, decodeFor(c, x, enc))) return;
      const options: { trial: Float32Array; cost: number; ok: boolean }[] = [];
      for (const p of c.parts) {
        const trial = x.slice();
        repairCond(p, trial, enc, fixed, accept);
        if (!rawHolds(c, decodeFor(c, trial, enc))) continue;
        let cost = 0;
        for (let i = 0; i < x.length; i++) cost += Math.abs(trial[i]! - x[i]!);
        options.push({ trial, cost, ok: accept ? accept(trial) : true });
      }
      options.sort((a, b) => Number(b.ok) - Number(a.ok) || a.cost - b.cost);
      if (options[0]) x.set(options[0].trial);
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
      if (c.op === '==' && solveEquality(c, x, enc, fixed)) return;
      // Move one changeable column as little as possible, along its grid, until the comparison holds.
      let best: { j: number; v: number; cost: number; ok: boolean } | undefined;
      for (const j of columnsOf(c)) {
        const col = enc.columns[j]!;
        if (fixed(j) || col.kind !== 'numeric' || col.max <= col.min) continue;
        const found = searchColumn(c, x, enc, j);
        if (found === undefined) continue;
        const cost = Math.abs(enc.encodeValue(col, found) - x[col.offset]!);
        let ok = true;
        if (accept) {
          const trial = x.slice();
          enc.setValue(trial, j, found);
          ok = accept(trial);
        }
        if (!best || (ok && !best.ok) || (ok === best.ok && cost < best.cost)) best = { j, v: found, cost, ok };
      }
      if (best) enc.setValue(x, best.j, best.v);
      return;
    }
  }
}

/** `col == expr` (either side) with col changeable and not in expr: set col to expr's value. */
function solveEquality(c: RCond & { k: 'cmp' }, x: Float32Array, enc: TabularEncoding, fixed: (j: number) => boolean): boolean {
  const lone = (e: RNum, other: RNum) => e.k === 'col' && !fixed(e.j) && !uses(other, e.j);
  const side = lone(c.a, c.b) ? c.a : lone(c.b, c.a) ? c.b : undefined;
  if (side?.k !== 'col') return false;
  enc.setValue(x, side.j, rawNum(side === c.a ? c.b : c.a, decodeFor(c, x, enc)));
  return rawHolds(c, decodeFor(c, x, enc));
}

/**
 * The value of column `j` nearest its current one (on its grid) at which `c` holds, found by
 * bisection towards whichever bound satisfies it (the comparison is taken to be monotone along
 * the way); undefined when neither bound does.
 */
function searchColumn(c: RCond, x: Float32Array, enc: TabularEncoding, j: number): number | undefined {
  const col = enc.columns[j]!;
  const trial = x.slice();
  const holdsAt = (v: number) => {
    enc.setValue(trial, j, v);
    return rawHolds(c, decodeFor(c, trial, enc));
  };
  const current = enc.decodeAt(x, j);
  let found: number | undefined;
  for (const end of [col.min, col.max]) {
    if (!holdsAt(end)) continue;
    let bad = current;
    let good = end;
    for (let it = 0; it < 60; it++) {
      const mid = enc.snap(col, (bad + good) / 2);
      if (mid === bad || mid === good) {
        if (col.step !== undefined || Math.abs(good - bad) <= 1e-9 * Math.max(1, Math.abs(good))) break;
      }
      if (holdsAt(mid)) good = mid;
      else bad = mid;
      if (col.step !== undefined && Math.abs(good - bad) <= col.step * 1.0000001) break;
    }
    if (found === undefined || Math.abs(good - current) < Math.abs(found - current)) found = good;
  }
  return found;
}

/**
 * Applies every relation's repair to one model input (in place) until all hold or a few passes
 * are spent; returns whether they all hold. Immutable features are never touched. Repairs go one
 * relation at a time, each preferring a change that keeps the others that hold holding; where
 * relations still pull a feature both ways, with `clean` given, the example is set back to it.
 *
 * @example
 * ```ts
 * const { test } = loadNslKdd();
 * const clean = test.x.slice(0, test.encoding.d);
 * const row = clean.map((v, i) => (i === test.encoding.columns[4]!.offset ? 0.5 : v)); // src_bytes moved
 * const ok = repairRelations(test.domain, row, clean);
 * ```
 */
export function repairRelations(domain: Domain, x: Float32Array, clean?: Float32Array, passes = 4): boolean {
  const relations = domain.relations ?? [];
  for (let pass = 0; pass < passes; pass++) {
    let all = true;
    for (const r of relations) {
      if (r.holds(x)) continue;
      all = false;
      const others = relations.filter((o) => o !== r && o.holds(x));
      const guided = (r as { repairWith?: (x: Float32Array, accept: (x: Float32Array) => boolean) => boolean }).repairWith;
      if (guided) guided(x, (trial) => others.every((o) => o.holds(trial)));
      else r.repair?.(x);
    }
    if (all) return true;
  }
  if (relations.every((r) => r.holds(x))) return true;
  if (clean) x.set(clean);
  return false;
}
