import * as tf from '@tensorflow/tfjs-core';
import { infeasibility, type Domain } from '../data/domain.js';
import type { ThreatModel } from '../threat/threat-model.js';

/**
 * Helpers the constrained attacks (CAPGD, MOEVA) share: the relations' summed violation, the
 * features an attacker may move, relation repairs on host rows, and the validity test every
 * candidate passes before it may count (inside the threat's ball and feasible in the domain,
 * relations and immutables included).
 */

/**
 * The summed violation of every relation of the domain for a batch `[b, …]` (0 where all
 * hold), differentiable; zeros when the domain has no relations. The caller disposes it.
 *
 * @example
 * ```ts
 * const v = violationSum(clf.domain, xAdv); // [b]
 * ```
 */
export function violationSum(domain: Domain, x: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const b = x.shape[0]!;
    const rel = domain.relations ?? [];
    if (!rel.length) return tf.zeros([b]) as tf.Tensor1D;
    const flat = tf.reshape(x, [b, x.size / b]) as tf.Tensor2D;
    return tf.addN(rel.map((r) => r.violation(flat))) as tf.Tensor1D;
  });
}

/** 1 for each feature an attacker may change, 0 for the immutable ones (length `d`). */
export function mutableMask(domain: Domain, d: number): Float32Array {
  const m = new Float32Array(d).fill(1);
  for (const i of domain.immutable ?? []) if (i < d) m[i] = 0;
  return m;
}

/**
 * A domain with only its box: what an unconstrained attack (PGD, FGSM as published) sees of a
 * tabular data set; its records are then validated against the full domain.
 *
 * @example
 * ```ts
 * const unconstrained = { ...clf, domain: boxOnly(clf.domain) };
 * ```
 */
export function boxOnly(domain: Domain): Domain {
  return { lower: domain.lower, upper: domain.upper };
}

/** ‖a − b‖ of one row (offsets into flat arrays) in the threat's norm. */
export function rowDistance(norm: ThreatModel['norm'], a: Float32Array, b: Float32Array, ao: number, bo: number, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) {
    const v = Math.abs(a[ao + j]! - b[bo + j]!);
    if (norm === 'linf') s = Math.max(s, v);
    else if (norm === 'l2') s += v * v;
    else if (norm === 'l1') s += v;
    else s += v > 1e-7 ? 1 : 0;
  }
  return norm === 'l2' ? Math.sqrt(s) : s;
}

/** Float32 slack of the ball test (as the threat's own check). */
const SLACK = 1e-5;

/** Whether a row lies inside the threat's ball around its clean row. */
export function insideBall(threat: ThreatModel, dist: number): boolean {
  return dist <= threat.eps * (1 + SLACK) + SLACK;
}

/**
 * The domain an attack projects its candidates into: the same feasible set around a clean record
 * with the work that cannot matter left out — one-hot groups and integer features that are
 * immutable keep their clean (feasible) values anyway, so they need no projection — and without
 * relations (checked on the host by {@link finishCandidates}).
 *
 * @example
 * ```ts
 * const fast = projectionDomain(clf.domain);
 * ```
 */
export function projectionDomain(domain: Domain): Domain {
  const fixed = new Set(domain.immutable ?? []);
  const oneHot = (domain.oneHot ?? []).filter((g) => {
    for (let j = g.offset; j < g.offset + g.width; j++) if (!fixed.has(j)) return true;
    return false;
  });
  const integers = (domain.integers ?? []).filter((g) => !fixed.has(g.index));
  return {
    lower: domain.lower,
    upper: domain.upper,
    ...(integers.length ? { integers } : {}),
    ...(oneHot.length ? { oneHot } : {}),
    ...(fixed.size ? { immutable: domain.immutable } : {}),
    ...(domain.integerRounding ? { integerRounding: domain.integerRounding } : {}),
  };
}

/** What {@link finishRows} returns. */
export interface Finished {
  /** The rows (a copy when a repair changed any, else the input array itself). */
  rows: Float32Array;
  changed: boolean;
  /** 1 where the row is inside the ball and feasible (relations and immutables included). */
  valid: Uint8Array;
  /** 1 where some relation does not hold (the rows whose violation the loss should see). */
  violating: Uint8Array;
  /** Each row's distance to its clean row in the threat's norm. */
  dist: Float32Array;
}

/**
 * Finishes candidate rows after a projected step: applies the relations' repairs to each row
 * (on a copy), keeps a repaired row only when it stays inside the ball (else the projected row),
 * and marks each row valid when it is inside the ball and feasible (box, grids, one-hot groups,
 * immutables against the clean row, relations). `clean` holds the clean rows in the same order.
 * Each relation is tested once per row (twice for a row a repair changed): relations may be
 * costly to test. With `suspects`, relations are tested only on the rows marked 1 (e.g. those
 * whose batched violation is positive); the other rows' `valid` then covers all but the
 * relations, and a caller must confirm a row with `infeasibility` before it counts.
 *
 * @example
 * ```ts
 * const { rows, valid } = finishRows(domain, threat, projectedRows, cleanRows, d);
 * ```
 */
export function finishRows(domain: Domain, threat: ThreatModel, src: Float32Array, clean: Float32Array, d: number, suspects?: Uint8Array): Finished {
  const b = src.length / d;
  const relations = domain.relations ?? [];
  const typed: Domain = { ...domain, relations: undefined };
  let rows = src;
  let changed = false;
  const violating = new Uint8Array(b);
  const valid = new Uint8Array(b);
  const dist = new Float32Array(b);
  const row = new Float32Array(d);
  const allHold = (r: Float32Array) => relations.every((rel) => rel.holds(r));
  for (let k = 0; k < b; k++) {
    const off = k * d;
    const c = clean.subarray(off, off + d);
    let failing = suspects && !suspects[k] ? [] : relations.filter((rel) => !rel.holds(rows.subarray(off, off + d)));
    if (failing.length && failing.some((rel) => rel.repair)) {
      row.set(rows.subarray(off, off + d));
      for (const rel of failing) rel.repair?.(row, c);
      if (insideBall(threat, rowDistance(threat.norm, row, clean, 0, off, d))) {
        if (!changed) rows = src.slice();
        changed = true;
        rows.set(row, off);
        failing = allHold(row) ? [] : failing;
      }
    }
    violating[k] = failing.length ? 1 : 0;
    dist[k] = rowDistance(threat.norm, rows, clean, off, off, d);
    valid[k] = !failing.length && insideBall(threat, dist[k]!) && infeasibility(typed, rows.subarray(off, off + d), c) === undefined ? 1 : 0;
  }
  return { rows, changed, valid, violating, dist };
}

/**
 * {@link finishRows} on a tensor of candidates: returns the rows as a tensor (a new one when a
 * repair changed any, else `cand` itself) with the flags.
 *
 * @example
 * ```ts
 * const { x: next, valid } = finishCandidates(domain, threat, projected, cleanRows);
 * ```
 */
export function finishCandidates(domain: Domain, threat: ThreatModel, cand: tf.Tensor, clean: Float32Array): Omit<Finished, 'rows' | 'changed'> & { x: tf.Tensor } {
  const b = cand.shape[0]!;
  const f = finishRows(domain, threat, cand.dataSync() as Float32Array, clean, cand.size / b);
  return { x: f.changed ? tf.tensor(f.rows, cand.shape) : cand, valid: f.valid, violating: f.violating, dist: f.dist };
}
