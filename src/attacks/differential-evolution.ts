import * as tf from '@tensorflow/tfjs-core';
import { boundsOf } from '../data/domain.js';
import { Rng } from '../data/rng.js';
import { UserError } from '../errors.js';
import type { Classifier } from '../model/classifier.js';
import type { AttackResult } from './attack.js';
import type { AttackSupport } from './support.js';
import { CheckedAttack, type AttackContext } from './checked.js';
import { isSuccess } from './losses.js';
import { AttackTracker } from './tracker.js';

/**
 * Hyperparameters of {@link DifferentialEvolution}.
 *
 * @example
 * ```ts
 * const params: Partial<DifferentialEvolutionParams> = { population: 400, iterations: 100 };
 * const de = new DifferentialEvolution(params);
 * ```
 */
export type DifferentialEvolutionParams = {
  /** Candidates per example. Default 40 (the paper used 400; 40 keeps a CLI run short). */
  population: number;
  /** Generations after the initial population. Default 40. */
  iterations: number;
  /** Differential weight F of DE/rand/1: mutant = a + F·(b − c). Default 0.5. */
  weight: number;
  /** Binomial crossover rate; 0 (default, as in the paper) takes the mutant whole. */
  crossover: number;
  /**
   * Base vector of the mutation: 'rand1' (default, the paper's DE/rand/1: a random member) or
   * 'best1' (the example's best member, faster on small budgets).
   */
  strategy: 'rand1' | 'best1';
  /** Query budget per example; default population·(iterations + 1). */
  maxQueries?: number;
};

export const DE_DEFAULTS: DifferentialEvolutionParams = { population: 40, iterations: 40, weight: 0.5, crossover: 0, strategy: 'rand1' };

/** Rows evaluated in one forward pass. */
const MAX_ROWS = 4096;

/** The threats, model access and hyperparameters of {@link DifferentialEvolution}. */
export const DE_SUPPORT: AttackSupport = { norms: ['l0'], access: 'scores', params: ['population', 'iterations', 'weight', 'crossover', 'strategy', 'maxQueries'] };
/**
 * Few-pixel attack by differential evolution (Su, Vargas, Sakurai, "One pixel attack for
 * fooling deep neural networks", IEEE TEVC 2019). Query-only. Under an l0 threat of budget k
 * (`lpThreat('l0', k)` = at most k changed features), each candidate is k/c tuples
 * (row, column, value per channel) — a pixel is all c channels at one (row, column), so it
 * counts as c features (for MNIST, one pixel = one feature; for RGB, l0:3 is one pixel). For
 * non-image inputs a tuple is (feature index, value). Values are kept as a share of each
 * feature's domain interval. Evolution is DE/rand/1 (mutant = a + F·(b − c); an entry out of range is
 * drawn afresh), optional binomial crossover (none by default, as in the paper), and
 * one-to-one selection on the true class's probability (untargeted, lower is better) or the
 * target's (targeted, higher is better). All examples' populations go through the model in
 * shared forward passes; every logits row is one query; an example stops at its first success.
 *
 * @example
 * ```ts
 * const r = await new DifferentialEvolution({ population: 100, iterations: 50 })
 *   .run(clf, x, y, { threat: lpThreat('l0', 3), seed: 0 });
 * ```
 */
export class DifferentialEvolution extends CheckedAttack<DifferentialEvolutionParams> {

  constructor(params: Partial<DifferentialEvolutionParams> = {}) {
    super('de', DE_SUPPORT, DE_DEFAULTS, params);
    const p = this.params;
    if (!Number.isInteger(p.population) || p.population < 4) throw new UserError(`DE population must be an integer ≥ 4 (got ${p.population})`);
    if (!Number.isInteger(p.iterations) || p.iterations < 0) throw new UserError(`DE iterations must be an integer ≥ 0 (got ${p.iterations})`);
    if (!(p.weight > 0 && p.weight <= 2)) throw new UserError(`DE weight F must be in (0, 2] (got ${p.weight})`);
    if (!(p.crossover >= 0 && p.crossover <= 1)) throw new UserError(`DE crossover rate must be in [0, 1] (got ${p.crossover})`);
    if (p.strategy !== 'rand1' && p.strategy !== 'best1') throw new UserError(`DE strategy must be 'rand1' or 'best1' (got '${String(p.strategy)}')`);
    if (p.maxQueries !== undefined && (!Number.isInteger(p.maxQueries) || p.maxQueries < 1)) {
      throw new UserError(`DE maxQueries (--queries) must be a positive integer (got ${p.maxQueries})`);
    }
  }

  protected async attack(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, ctx: AttackContext): Promise<AttackResult> {
    const { threat, target, seed, opts } = ctx;
    const p = this.params;
    const P = p.population;
    const budget = p.maxQueries ?? P * (p.iterations + 1);
    const rng = new Rng(seed);
    const n = x.shape[0]!;
    const shape = x.shape.slice(1);
    const d = x.size / n;
    const image = (shape.length === 3 || shape.length === 2) && Math.min(shape[0]!, shape[1]!) >= 2;
    const h = image ? shape[0]! : 1;
    const w = image ? shape[1]! : d;
    const c = image && shape.length === 3 ? shape[2]! : 1;
    const pixels = Math.floor(threat.eps / c);
    if (pixels < 1) throw new UserError(`l0:${threat.eps} allows fewer features than one pixel of ${c} channels: use at least l0:${c}`);
    const coords = image ? 2 : 1;
    const gene = coords + c;
    const L = pixels * gene;
    const xs = x.dataSync() as Float32Array;
    const ys = y.dataSync();
    const ts = target?.dataSync();
    const tracker = new AttackTracker(x);
    const pop = new Float64Array(n * P * L);
    const fit = new Float64Array(n * P);
    /** Upper limits of each gene entry: positions in [0, h) / [0, w), values as a share in [0, 1]. */
    const limit = Float64Array.from({ length: gene }, (_, g) => (g < coords ? (image ? [h, w][g]! : d) : 1));

    const apply = (cand: Float64Array, i: number, out: Float32Array, o: number) => {
      out.set(xs.subarray(i * d, (i + 1) * d), o);
      for (let q = 0; q < pixels; q++) {
        const gq = cand.subarray(q * gene, (q + 1) * gene);
        const pix = image ? Math.min(Math.floor(gq[0]!), h - 1) * w + Math.min(Math.floor(gq[1]!), w - 1) : Math.min(Math.floor(gq[0]!), d - 1);
        for (let ch = 0; ch < c; ch++) {
          const j = pix * c + ch;
          const [lo, hi] = boundsOf(clf.domain, j);
          out[o + j] = lo + gq[coords + ch]! * (hi - lo);
        }
      }
    };

    /** Evaluates candidates (rows of `cands`, example `owners[r]`); returns fitness (lower is better) and success. */
    const evaluate = (cands: Float64Array, owners: number[]) => {
      const f = new Float64Array(owners.length);
      const s = new Uint8Array(owners.length);
      const rows: Float32Array[] = [];
      for (let r0 = 0; r0 < owners.length; r0 += MAX_ROWS) {
        const part = owners.slice(r0, r0 + MAX_ROWS);
        const buf = new Float32Array(part.length * d);
        part.forEach((i, r) => apply(cands.subarray((r0 + r) * L, (r0 + r + 1) * L), i, buf, r * d));
        const res = tf.tidy(() => {
          const idx = tf.tensor1d(part, 'int32');
          const xc = threat.project(tf.tensor(buf, [part.length, ...shape]), tf.gather(x, idx), clf.domain);
          const logits = clf.logits(xc);
          const succ = isSuccess(logits, tf.gather(y, idx) as tf.Tensor1D, target ? (tf.gather(target, idx) as tf.Tensor1D) : undefined);
          return { xc, prob: tf.softmax(logits), succ };
        });
        tracker.count(part);
        const prob = res.prob.dataSync();
        const sc = res.succ.dataSync();
        const k = clf.numClasses;
        part.forEach((i, r) => {
          f[r0 + r] = ts ? -prob[r * k + ts[i]!]! : prob[r * k + ys[i]!]!;
          s[r0 + r] = sc[r]!;
        });
        rows.push((res.xc.dataSync() as Float32Array).slice());
        tf.dispose([res.xc, res.prob, res.succ]);
      }
      const data = new Float32Array(owners.length * d);
      let o = 0;
      for (const r of rows) {
        data.set(r, o);
        o += r.length;
      }
      return { f, s, data };
    };

    /** Offers each example's best successful candidate (rows grouped P per example). */
    const settle = (list: number[], ev: ReturnType<typeof evaluate>) => {
      const win: number[] = [];
      const buf: number[] = [];
      list.forEach((i, e) => {
        let b = -1;
        for (let r = e * P; r < (e + 1) * P; r++) if (ev.s[r] && (b < 0 || ev.f[r]! < ev.f[b]!)) b = r;
        if (b >= 0) {
          win.push(i);
          buf.push(b);
        }
      });
      if (win.length === 0) return;
      const out = new Float32Array(win.length * d);
      buf.forEach((r, k) => out.set(ev.data.subarray(r * d, (r + 1) * d), k * d));
      const t = tf.tensor(out, [win.length, ...shape]);
      tracker.offer(Int32Array.from(win), t, win.map(() => 1));
      t.dispose();
    };

    let active = Array.from({ length: n }, (_, i) => i).filter(() => P <= budget);
    if (active.length > 0) {
      for (const i of active) for (let m = 0; m < P; m++) for (let q = 0; q < L; q++) pop[(i * P + m) * L + q] = rng.next() * limit[q % gene]!;
      const owners = active.flatMap((i) => Array<number>(P).fill(i));
      const cands = new Float64Array(owners.length * L);
      active.forEach((i, e) => cands.set(pop.subarray(i * P * L, (i + 1) * P * L), e * P * L));
      const ev = evaluate(cands, owners);
      active.forEach((i, e) => fit.set(ev.f.subarray(e * P, (e + 1) * P), i * P));
      settle(active, ev);
    }

    let generation = 0;
    for (let it = 0; it < p.iterations; it++) {
      active = active.filter((i) => !tracker.success[i] && tracker.queries[i]! + P <= budget);
      if (active.length === 0) break;
      generation = it + 1;
      const owners = active.flatMap((i) => Array<number>(P).fill(i));
      const kids = new Float64Array(owners.length * L);
      active.forEach((i, e) => {
        let best = 0;
        for (let m = 1; m < P; m++) if (fit[i * P + m]! < fit[i * P + best]!) best = m;
        for (let m = 0; m < P; m++) {
          const [r1, b, cc] = threeOthers(P, m, rng);
          const a = p.strategy === 'best1' ? best : r1;
          const A = pop.subarray((i * P + a) * L, (i * P + a + 1) * L);
          const B = pop.subarray((i * P + b) * L, (i * P + b + 1) * L);
          const C = pop.subarray((i * P + cc) * L, (i * P + cc + 1) * L);
          const cur = pop.subarray((i * P + m) * L, (i * P + m + 1) * L);
          const out = kids.subarray((e * P + m) * L, (e * P + m + 1) * L);
          const forced = rng.int(L);
          for (let q = 0; q < L; q++) {
            const take = p.crossover === 0 || q === forced || rng.next() < p.crossover;
            const lim = limit[q % gene]!;
            const v = take ? A[q]! + p.weight * (B[q]! - C[q]!) : cur[q]!;
            // Out of range: a fresh uniform draw (as SciPy's DE does), not a pile-up on the border.
            out[q] = v >= 0 && v < lim ? v : rng.next() * lim;
          }
        }
      });
      const ev = evaluate(kids, owners);
      active.forEach((i, e) => {
        for (let m = 0; m < P; m++) {
          const r = e * P + m;
          if (ev.f[r]! <= fit[i * P + m]!) {
            fit[i * P + m] = ev.f[r]!;
            pop.set(kids.subarray(r * L, (r + 1) * L), (i * P + m) * L);
          }
        }
      });
      settle(active, ev);
      opts.onIteration?.(generation, active.filter((i) => !tracker.success[i]).length);
    }
    return tracker.result(threat, generation);
  }
}

/** Three distinct members other than m. */
function threeOthers(P: number, m: number, rng: Rng): [number, number, number] {
  const out: number[] = [];
  while (out.length < 3) {
    const r = rng.int(P);
    if (r !== m && !out.includes(r)) out.push(r);
  }
  return out as [number, number, number];
}
