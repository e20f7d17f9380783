import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../data/rng.js';
import { UserError } from '../errors.js';
import type { Classifier } from '../model/classifier.js';
import type { AttackResult } from './attack.js';
import type { AttackSupport } from './support.js';
import { CheckedAttack, type AttackContext } from './checked.js';
import { isSuccess } from './losses.js';
import { AttackTracker } from './tracker.js';

/**
 * Hyperparameters of {@link GenAttack}.
 *
 * @example
 * ```ts
 * const params: Partial<GenAttackParams> = { maxQueries: 1000, population: 6 };
 * const gen = new GenAttack(params);
 * ```
 */
export type GenAttackParams = {
  /** Query budget per example (the initial population included). Default 5000. */
  maxQueries: number;
  /** Population size N per example. Default 6 (the paper's). */
  population: number;
  /** Floor ρ_min of the per-feature mutation probability; ρ = max(ρ_min, 0.5·0.9^plateaus). Default 0.1. */
  mutationRate: number;
  /** Floor α_min of the mutation range, as a share of ε; α = max(α_min, 0.4·0.9^plateaus). Default 0.15. */
  mutationRange: number;
  /** Temperature τ of the selection softmax over fitness. Default 0.3. */
  temperature: number;
  /** Adapt ρ and α to the number of generations without improvement (the paper's schedule). Default true. */
  adaptive: boolean;
};

export const GENATTACK_DEFAULTS: GenAttackParams = {
  maxQueries: 5000,
  population: 6,
  mutationRate: 0.1,
  mutationRange: 0.15,
  temperature: 0.3,
  adaptive: true,
};

/** The threats, model access and hyperparameters of {@link GenAttack}. */
export const GENATTACK_SUPPORT: AttackSupport = { norms: ['linf'], access: 'scores', params: ['maxQueries', 'population', 'mutationRate', 'mutationRange', 'temperature', 'adaptive'] };
/**
 * GenAttack (Alzantot, Sharma, Chakraborty, Zhang, Hsieh, Srivastava, GECCO 2019): a
 * gradient-free genetic algorithm on the model's scores. Each example evolves its own population
 * inside the Linf ball: fitness is log p_t − log Σ_{j≠t} p_j (targeted) or log Σ_{j≠y} p_j − log p_y
 * (untargeted); the elite survives; parents are drawn with probability softmax(fitness/τ);
 * crossover takes each feature from a parent with probability proportional to its selection
 * weight; mutation adds U(−αε, αε) to each feature with probability ρ; children are projected
 * by the ThreatModel. ρ and α shrink as generations pass without improvement. All examples'
 * populations are evaluated in one forward pass per generation; every logits row is one query,
 * and an example stops at its first success or when its budget is spent.
 *
 * @example
 * ```ts
 * const r = await new GenAttack({ maxQueries: 2000 }).run(clf, x, y, { threat: parseThreat('linf:0.3'), seed: 0 });
 * ```
 */
export class GenAttack extends CheckedAttack<GenAttackParams> {

  constructor(params: Partial<GenAttackParams> = {}) {
    super('genattack', GENATTACK_SUPPORT, GENATTACK_DEFAULTS, params);
    const p = this.params;
    if (!Number.isInteger(p.maxQueries) || p.maxQueries < 1) throw new UserError(`GenAttack maxQueries (--queries) must be a positive integer (got ${p.maxQueries})`);
    if (!Number.isInteger(p.population) || p.population < 2) throw new UserError(`GenAttack population must be an integer ≥ 2 (got ${p.population})`);
    if (!(p.mutationRate > 0 && p.mutationRate <= 1)) throw new UserError(`GenAttack mutationRate must be in (0, 1] (got ${p.mutationRate})`);
    if (!(p.mutationRange > 0)) throw new UserError(`GenAttack mutationRange must be positive (got ${p.mutationRange})`);
    if (!(p.temperature > 0)) throw new UserError(`GenAttack temperature must be positive (got ${p.temperature})`);
  }

  protected async attack(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, ctx: AttackContext): Promise<AttackResult> {
    const { threat, target, seed, opts } = ctx;
    const p = this.params;
    const P = p.population;
    const rng = new Rng(seed);
    const n = x.shape[0]!;
    const shape = x.shape.slice(1);
    const d = x.size / n;
    const eps = threat.eps;
    const k = clf.numClasses;
    const ys = y.dataSync();
    const ts = target?.dataSync();
    const tracker = new AttackTracker(x);
    const pop = new Float32Array(n * P * d);
    const fit = new Float64Array(n * P);
    const plateaus = new Int32Array(n);
    const bestFit = new Float64Array(n).fill(-Infinity);

    /** Projects and evaluates rows (owned by `owners`), returns their projected values, fitness and success. */
    const evaluate = (cand: tf.Tensor, owners: number[]) => {
      const idx = tf.tensor1d(owners, 'int32');
      const res = tf.tidy(() => {
        const xc = threat.project(cand, tf.gather(x, idx), clf.domain);
        const logits = clf.logits(xc);
        const succ = isSuccess(logits, tf.gather(y, idx) as tf.Tensor1D, target ? (tf.gather(target, idx) as tf.Tensor1D) : undefined);
        return { xc, lp: tf.logSoftmax(logits), succ };
      });
      idx.dispose();
      tracker.count(owners);
      const lp = res.lp.dataSync() as Float32Array;
      const f = owners.map((i, r) => fitness(lp.subarray(r * k, (r + 1) * k), ts ? ts[i]! : ys[i]!, !!ts));
      const out = { data: (res.xc.dataSync() as Float32Array).slice(), fit: f, succ: (res.succ.dataSync() as Uint8Array).slice(), xc: res.xc };
      tf.dispose([res.lp, res.succ]);
      return out;
    };

    /** Offers the best successful row of each example (rows grouped per example), marks them done. */
    const settle = (list: number[], per: number, ev: ReturnType<typeof evaluate>) => {
      const win: number[] = [];
      const rowsOf: number[] = [];
      list.forEach((i, e) => {
        let bestRow = -1;
        for (let r = e * per; r < (e + 1) * per; r++) if (ev.succ[r] && (bestRow < 0 || ev.fit[r]! > ev.fit[bestRow]!)) bestRow = r;
        if (bestRow >= 0) {
          win.push(i);
          rowsOf.push(bestRow);
        }
      });
      if (win.length > 0) {
        const t = tf.tidy(() => tf.gather(ev.xc, tf.tensor1d(rowsOf, 'int32')));
        tracker.offer(Int32Array.from(win), t, win.map(() => 1));
        t.dispose();
      }
    };

    // Initial population: N uniform points of the ball around each example.
    let active = Array.from({ length: n }, (_, i) => i).filter(() => P <= p.maxQueries);
    if (active.length > 0) {
      const owners = active.flatMap((i) => Array<number>(P).fill(i));
      const start = tf.tidy(() => threat.randomStart(tf.gather(x, tf.tensor1d(owners, 'int32')), clf.domain, seed));
      const ev = evaluate(start, owners);
      start.dispose();
      pop.set(ev.data, 0);
      fit.set(ev.fit, 0);
      for (let i = 0; i < n; i++) for (let m = 0; m < P; m++) bestFit[i] = Math.max(bestFit[i]!, fit[i * P + m]!);
      settle(active, P, ev);
      ev.xc.dispose();
    }

    let generation = 0;
    for (;;) {
      active = active.filter((i) => !tracker.success[i] && tracker.queries[i]! + (P - 1) <= p.maxQueries);
      if (active.length === 0) break;
      generation++;
      const owners = active.flatMap((i) => Array<number>(P - 1).fill(i));
      const kids = new Float32Array(owners.length * d);
      active.forEach((i, e) => {
        const f = fit.subarray(i * P, (i + 1) * P);
        const probs = softmax(f, p.temperature);
        const rho = p.adaptive ? Math.max(p.mutationRate, 0.5 * 0.9 ** plateaus[i]!) : p.mutationRate;
        const alpha = (p.adaptive ? Math.max(p.mutationRange, 0.4 * 0.9 ** plateaus[i]!) : p.mutationRange) * eps;
        for (let c = 0; c < P - 1; c++) {
          const a = pick(probs, rng);
          const b = pick(probs, rng);
          const pa = probs[a]! / (probs[a]! + probs[b]!);
          const out = kids.subarray((e * (P - 1) + c) * d, (e * (P - 1) + c + 1) * d);
          const A = pop.subarray((i * P + a) * d, (i * P + a + 1) * d);
          const B = pop.subarray((i * P + b) * d, (i * P + b + 1) * d);
          for (let j = 0; j < d; j++) {
            let v = rng.next() < pa ? A[j]! : B[j]!;
            if (rng.next() < rho) v += alpha * (2 * rng.next() - 1);
            out[j] = v;
          }
        }
      });
      const kt = tf.tensor(kids, [owners.length, ...shape]);
      const ev = evaluate(kt, owners);
      kt.dispose();
      settle(active, P - 1, ev);
      ev.xc.dispose();
      active.forEach((i, e) => {
        // New population: the elite of the old one, then the children.
        let elite = 0;
        for (let m = 1; m < P; m++) if (fit[i * P + m]! > fit[i * P + elite]!) elite = m;
        const eliteX = pop.slice((i * P + elite) * d, (i * P + elite + 1) * d);
        const eliteF = fit[i * P + elite]!;
        pop.set(eliteX, i * P * d);
        fit[i * P] = eliteF;
        for (let c = 0; c < P - 1; c++) {
          pop.set(ev.data.subarray((e * (P - 1) + c) * d, (e * (P - 1) + c + 1) * d), (i * P + 1 + c) * d);
          fit[i * P + 1 + c] = ev.fit[e * (P - 1) + c]!;
        }
        const top = Math.max(...ev.fit.slice(e * (P - 1), (e + 1) * (P - 1)));
        if (top > bestFit[i]!) bestFit[i] = top;
        else plateaus[i]!++;
      });
      opts.onIteration?.(generation, active.length);
    }
    return tracker.result(threat, generation);
  }
}

/** GenAttack fitness from log-probabilities: log p_c − log Σ_{j≠c} p_j, negated when untargeted (c = y). */
function fitness(lp: Float32Array, c: number, targeted: boolean): number {
  let m = -Infinity;
  for (let j = 0; j < lp.length; j++) if (j !== c) m = Math.max(m, lp[j]!);
  let s = 0;
  for (let j = 0; j < lp.length; j++) if (j !== c) s += Math.exp(lp[j]! - m);
  const others = m + Math.log(s);
  const f = lp[c]! - others;
  return targeted ? f : -f;
}

function softmax(f: ArrayLike<number>, tau: number): Float64Array {
  const out = new Float64Array(f.length);
  let m = -Infinity;
  for (let i = 0; i < f.length; i++) m = Math.max(m, f[i]! / tau);
  let s = 0;
  for (let i = 0; i < f.length; i++) s += out[i] = Math.exp(f[i]! / tau - m);
  for (let i = 0; i < f.length; i++) out[i]! /= s;
  return out;
}

/** Index drawn with the given probabilities. */
function pick(probs: Float64Array, rng: Rng): number {
  let u = rng.next();
  for (let i = 0; i < probs.length; i++) {
    u -= probs[i]!;
    if (u < 0) return i;
  }
  return probs.length - 1;
}
