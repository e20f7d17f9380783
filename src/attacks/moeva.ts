import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../model/classifier.js';
import type { ThreatModel } from '../threat/threat-model.js';
import type { Domain } from '../data/domain.js';
import { boundsOf, infeasibility } from '../data/domain.js';
import type { AttackResult } from './attack.js';
import type { AttackSupport } from './support.js';
import { CheckedAttack, type AttackContext } from './checked.js';
import { AttackTracker } from './tracker.js';
import { finishRows, projectionDomain, violationSum } from './constrained.js';
import { nsga3Select, referenceDirections } from './nsga.js';
import { UserError } from '../errors.js';
import { deriveSeed, Rng } from '../data/rng.js';

/**
 * Hyperparameters of {@link Moeva}.
 *
 * @example
 * ```ts
 * const params: Partial<MoevaParams> = { population: 24, generations: 40 };
 * const moeva = new Moeva(params);
 * ```
 */
export type MoevaParams = {
  /** Individuals per example. Default 16. */
  population: number;
  /** Generations after the initial one (one batched forward pass each). Default 25. */
  generations: number;
  /** Per-gene mutation probability (at least one gene always mutates). Default 0.1. */
  mutation: number;
  /** Probability that a child is a uniform crossover of two parents (else a copy of one). Default 0.9. */
  crossover: number;
  /** Standard deviation of a real gene's Gaussian mutation, as a multiple of ε. Default 0.5. */
  sigma: number;
};

export const MOEVA_DEFAULTS: MoevaParams = { population: 16, generations: 25, mutation: 0.1, crossover: 0.9, sigma: 0.5 };

function checkParams(p: MoevaParams): void {
  if (!Number.isInteger(p.population) || p.population < 4) throw new UserError(`moeva population must be an integer ≥ 4 (got ${p.population})`);
  if (!Number.isInteger(p.generations) || p.generations < 1) throw new UserError(`moeva generations must be a positive integer (got ${p.generations})`);
  if (!(p.mutation >= 0 && p.mutation <= 1)) throw new UserError(`moeva mutation must lie in [0, 1] (got ${p.mutation})`);
  if (!(p.crossover >= 0 && p.crossover <= 1)) throw new UserError(`moeva crossover must lie in [0, 1] (got ${p.crossover})`);
  if (!(p.sigma > 0)) throw new UserError(`moeva sigma must be positive (got ${p.sigma})`);
}

/** The threats, model access and hyperparameters of {@link Moeva}. */
export const MOEVA_SUPPORT: AttackSupport = { norms: ['linf', 'l2'], access: 'scores', constrained: true, params: ['population', 'generations', 'mutation', 'crossover', 'sigma'] };

/** A unit of crossover and mutation: one real or integer feature, or a whole one-hot group. */
type Gene = { kind: 'real'; i: number } | { kind: 'int'; i: number; step: number } | { kind: 'cat'; offset: number; width: number };

/** The genes an attacker controls: every feature not immutable, one-hot groups as one gene. */
export function genesOf(domain: Domain, d: number): Gene[] {
  const fixed = new Uint8Array(d);
  for (const i of domain.immutable ?? []) fixed[i] = 1;
  const inGroup = new Uint8Array(d);
  const genes: Gene[] = [];
  for (const g of domain.oneHot ?? []) {
    inGroup.fill(1, g.offset, g.offset + g.width);
    let free = true;
    for (let j = g.offset; j < g.offset + g.width; j++) if (fixed[j]) free = false;
    if (free && g.width > 1) genes.push({ kind: 'cat', offset: g.offset, width: g.width });
  }
  const step = new Map((domain.integers ?? []).map((g) => [g.index, g.step]));
  for (let i = 0; i < d; i++) {
    if (fixed[i] || inGroup[i]) continue;
    const [lo, hi] = boundsOf(domain, i);
    if (!(hi > lo)) continue;
    genes.push(step.has(i) ? { kind: 'int', i, step: step.get(i)! } : { kind: 'real', i });
  }
  return genes;
}

function gaussian(rng: Rng): number {
  const u = Math.max(rng.next(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

function mutate(row: Float32Array, off: number, genes: readonly Gene[], rate: number, scale: number, rng: Rng): void {
  const forced = rng.int(genes.length);
  for (let gi = 0; gi < genes.length; gi++) {
    if (gi !== forced && rng.next() >= rate) continue;
    const g = genes[gi]!;
    if (g.kind === 'real') row[off + g.i] = row[off + g.i]! + gaussian(rng) * scale;
    else if (g.kind === 'int') {
      const k = Math.max(1, Math.round(Math.abs(gaussian(rng)) * scale / g.step));
      row[off + g.i] = row[off + g.i]! + (rng.next() < 0.5 ? -k : k) * g.step;
    } else {
      let cur = 0;
      for (let j = 1; j < g.width; j++) if (row[off + g.offset + j]! > row[off + g.offset + cur]!) cur = j;
      const pick = (cur + 1 + rng.int(g.width - 1)) % g.width;
      for (let j = 0; j < g.width; j++) row[off + g.offset + j] = j === pick ? 1 : 0;
    }
  }
}

function crossover(out: Float32Array, oo: number, a: Float32Array, ao: number, b: Float32Array, bo: number, d: number, genes: readonly Gene[], rng: Rng): void {
  out.set(a.subarray(ao, ao + d), oo);
  for (const g of genes) {
    if (rng.next() < 0.5) continue;
    if (g.kind === 'cat') for (let j = 0; j < g.width; j++) out[oo + g.offset + j] = b[bo + g.offset + j]!;
    else out[oo + g.i] = b[bo + g.i]!;
  }
}

/** Options of {@link moevaSearch} besides the hyperparameters. */
export interface MoevaRun {
  seed: number;
  /** Global example indices (keys of each example's random stream), default 0..b−1. */
  indices?: ArrayLike<number>;
  target?: tf.Tensor1D;
  onIteration?: (iteration: number, active: number) => void;
}

const OBJECTIVES = 3;

/**
 * MOEVA on one batch (Ghamizi et al. 2020; the evolutionary half of CAA, Simonetto et al.
 * 2024): for each example a population of records evolves over the controllable features, with
 * crossover and mutation by feature type (real: Gaussian; integer: whole grid steps; one-hot
 * group: another category) and NSGA-III survival ({@link nsga3Select}) on three objectives,
 * all minimised: the true class's probability margin (p_y − max other; targeted: max other −
 * p_target), the distance to the clean record, and the relations' summed violation. Every
 * child is projected into the ball and the domain and its relations repaired before it is
 * scored; one forward pass per generation scores the children of the whole batch. Each
 * example's random stream derives from (seed, its index), so results do not depend on the
 * batch. An example stops at its first valid success; the result is the valid success of least
 * distance of that generation, or the valid record of least margin. Leaks no tensors.
 *
 * @example
 * ```ts
 * const r = moevaSearch(clf, x, y, parseThreat('l2:0.5'), MOEVA_DEFAULTS, { seed: 0 });
 * r.xAdv.dispose();
 * ```
 */
export function moevaSearch(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, threat: ThreatModel, p: MoevaParams, run: MoevaRun): AttackResult {
  const domain = clf.domain;
  const b = x.shape[0]!;
  const d = x.size / b;
  const shape = x.shape.slice(1);
  const genes = genesOf(domain, d);
  const pd = projectionDomain(domain);
  const tracker = new AttackTracker(x);
  if (genes.length === 0 || b === 0) return tracker.result(threat, 0);
  const P = p.population;
  const clean = x.dataSync() as Float32Array;
  const labels = y.dataSync();
  const targets = run.target?.dataSync();
  const indices = run.indices ?? Int32Array.from({ length: b }, (_, i) => i);
  const rngs = Array.from({ length: b }, (_, i) => new Rng(deriveSeed(run.seed, 'moeva', indices[i]!)));
  const refs = referenceDirections(OBJECTIVES, Math.max(2, Math.round(Math.sqrt(2 * P)) - 1));
  const scale = p.sigma * threat.eps;
  const pop = Array.from({ length: b }, () => new Float32Array(P * d));
  const obj = Array.from({ length: b }, () => [] as number[][]);
  const rank = Array.from({ length: b }, () => new Array<number>(P).fill(0));
  let active = Int32Array.from({ length: b }, (_, i) => i);
  let iterations = 0;
  for (let gen = 0; gen <= p.generations && active.length > 0; gen++) {
    const n = active.length;
    const kids = new Float32Array(n * P * d);
    const cleanRep = new Float32Array(n * P * d);
    for (let a = 0; a < n; a++) {
      const i = active[a]!;
      const rng = rngs[i]!;
      for (let c = 0; c < P; c++) {
        const off = (a * P + c) * d;
        cleanRep.set(clean.subarray(i * d, (i + 1) * d), off);
        if (gen === 0) {
          kids.set(clean.subarray(i * d, (i + 1) * d), off);
          if (c > 0) mutate(kids, off, genes, Math.max(p.mutation, 2 / genes.length), scale, rng);
          continue;
        }
        const pick = () => {
          const u = rng.int(P);
          const v = rng.int(P);
          return rank[i]![u]! < rank[i]![v]! ? u : rank[i]![v]! < rank[i]![u]! ? v : rng.next() < 0.5 ? u : v;
        };
        const pa = pick();
        if (rng.next() < p.crossover) crossover(kids, off, pop[i]!, pa * d, pop[i]!, pick() * d, d, genes, rng);
        else kids.set(pop[i]!.subarray(pa * d, (pa + 1) * d), off);
        mutate(kids, off, genes, p.mutation, scale, rng);
      }
    }
    // Project, then test the relations only on the children whose batched violation is positive
    // (relations are costly to test one row at a time); a child is confirmed before it counts.
    const [projT, violT0] = tf.tidy(() => {
      const pr = threat.project(tf.tensor(kids, [n * P, ...shape]), tf.tensor(cleanRep, [n * P, ...shape]), pd);
      return [pr, violationSum(domain, pr)];
    });
    const viol0 = violT0!.dataSync();
    const fin = finishRows(domain, threat, projT!.dataSync() as Float32Array, cleanRep, d, Uint8Array.from(viol0, (v) => (v > 0 ? 1 : 0)));
    const rowsData = fin.rows;
    const probsT = tf.tidy(() => tf.softmax(clf.logits(fin.changed ? tf.tensor(rowsData, [n * P, ...shape]) : projT!)));
    const probs = probsT.dataSync();
    const viol = Float32Array.from(viol0, (v, r) => (fin.valid[r] ? 0 : v));
    tf.dispose([projT!, violT0!, probsT]);
    tracker.count(active, P);
    const C = clf.numClasses;
    const bestIdx = new Int32Array(n).fill(-1);
    const bestSucc = new Uint8Array(n);
    const bestScore = new Float32Array(n).fill(-Infinity);
    for (let a = 0; a < n; a++) {
      const i = active[a]!;
      const childObj: number[][] = [];
      for (let c = 0; c < P; c++) {
        const r = a * P + c;
        const pr = probs.subarray(r * C, (r + 1) * C);
        let top = 0;
        for (let j = 1; j < C; j++) if (pr[j]! > pr[top]!) top = j;
        let margin: number;
        let success: boolean;
        if (targets) {
          let other = -Infinity;
          for (let j = 0; j < C; j++) if (j !== targets[i]) other = Math.max(other, pr[j]!);
          margin = other - pr[targets[i]!]!;
          success = top === targets[i];
        } else {
          let other = -Infinity;
          for (let j = 0; j < C; j++) if (j !== labels[i]) other = Math.max(other, pr[j]!);
          margin = pr[labels[i]!]! - other;
          success = top !== labels[i];
        }
        const valid = fin.valid[r]!;
        childObj.push([margin, fin.dist[r]!, valid ? 0 : Math.max(viol[r]!, 1e-6)]);
        if (!valid) continue;
        // Among valid children: a success of least distance, else the least margin.
        const score = success ? 1e6 - fin.dist[r]! : -margin;
        if (score > bestScore[a]! && infeasibility(domain, rowsData.subarray(r * d, (r + 1) * d), cleanRep.subarray(r * d, (r + 1) * d)) === undefined) {
          [bestScore[a], bestIdx[a], bestSucc[a]] = [score, r, success ? 1 : 0];
        }
      }
      // Survival: parents and children together (the initial generation has no parents).
      const all = gen === 0 ? childObj : [...obj[i]!, ...childObj];
      const sel = nsga3Select(all, P, refs, rngs[i]!);
      const next = new Float32Array(P * d);
      sel.chosen.forEach((s, k) => {
        if (gen > 0 && s < P) next.set(pop[i]!.subarray(s * d, (s + 1) * d), k * d);
        else {
          const r = a * P + (gen === 0 ? s : s - P);
          next.set(rowsData.subarray(r * d, (r + 1) * d), k * d);
        }
      });
      pop[i] = next;
      obj[i] = sel.chosen.map((s) => all[s]!);
      rank[i] = sel.rank;
    }
    // Offer each example's best valid child of this generation.
    const offered = Int32Array.from(active).filter((_, a) => bestIdx[a]! >= 0);
    if (offered.length) {
      const rows = new Float32Array(offered.length * d);
      const succ = new Uint8Array(offered.length);
      const score = new Float32Array(offered.length);
      let o = 0;
      for (let a = 0; a < n; a++) {
        if (bestIdx[a]! < 0) continue;
        rows.set(rowsData.subarray(bestIdx[a]! * d, (bestIdx[a]! + 1) * d), o * d);
        succ[o] = bestSucc[a]!;
        score[o] = bestScore[a]!;
        o++;
      }
      const t = tf.tensor(rows, [offered.length, ...shape]);
      tracker.offer(offered, t, succ, undefined, score);
      t.dispose();
    }
    iterations = gen;
    active = Int32Array.from(active).filter((i) => !tracker.success[i]);
    run.onIteration?.(gen, active.length);
  }
  return tracker.result(threat, iterations);
}

/**
 * MOEVA, the multi-objective evolutionary attack of CAA (see {@link moevaSearch}): needs only
 * the model's scores, honours the domain's types, immutables and relations, and reports only
 * valid records as adversarial. `population` queries per example and generation.
 *
 * @example
 * ```ts
 * const r = await new Moeva({ generations: 40 }).run(clf, x, y, { threat: parseThreat('l2:0.5'), seed: 0 });
 * ```
 */
export class Moeva extends CheckedAttack<MoevaParams> {
  constructor(params: Partial<MoevaParams> = {}) {
    super('moeva', MOEVA_SUPPORT, MOEVA_DEFAULTS, params);
    checkParams(this.params);
  }

  protected async attack(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, ctx: AttackContext): Promise<AttackResult> {
    return moevaSearch(clf, x, y, ctx.threat, this.params, { seed: ctx.seed, indices: ctx.indices, target: ctx.target, onIteration: ctx.opts.onIteration });
  }
}
