import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../model/classifier.js';
import type { AttackResult } from './attack.js';
import type { AttackSupport } from './support.js';
import { CheckedAttack, type AttackContext } from './checked.js';
import { CAPGD_DEFAULTS, capgdPerturb, type CapgdParams } from './capgd.js';
import { MOEVA_DEFAULTS, moevaSearch, type MoevaParams } from './moeva.js';
import { rows } from './tracker.js';
import { UserError } from '../errors.js';

/**
 * Hyperparameters of {@link Caa}: CAPGD's and MOEVA's.
 *
 * @example
 * ```ts
 * const params: Partial<CaaParams> = { steps: 30, generations: 40 };
 * const caa = new Caa(params);
 * ```
 */
export type CaaParams = CapgdParams & MoevaParams;

/** The threats, model access and hyperparameters of {@link Caa}. */
export const CAA_SUPPORT: AttackSupport = {
  norms: ['linf', 'l2'],
  access: 'gradient',
  constrained: true,
  params: ['steps', 'restarts', 'violationWeight', 'rho', 'momentum', 'population', 'generations', 'mutation', 'crossover', 'sigma'],
};

/**
 * CAA, the constrained adaptive attack of Simonetto et al. (2024): CAPGD on the batch, then
 * MOEVA on the examples CAPGD left unbroken, per-example worst case (an example counts as
 * broken when either found a valid adversarial record; it keeps CAPGD's record when CAPGD broke
 * it, else MOEVA's). Queries add up. The same ensemble as `advtrain eval --preset tabular`.
 *
 * @example
 * ```ts
 * const r = await new Caa().run(clf, x, y, { threat: parseThreat('l2:0.5'), seed: 0 });
 * ```
 */
export class Caa extends CheckedAttack<CaaParams> {
  constructor(params: Partial<CaaParams> = {}) {
    super('caa', CAA_SUPPORT, { ...CAPGD_DEFAULTS, ...MOEVA_DEFAULTS }, params);
    // Each half checks its own hyperparameters.
    if (!Number.isInteger(this.params.steps) || this.params.steps < 1) throw new UserError(`caa steps must be a positive integer (got ${this.params.steps})`);
    if (!Number.isInteger(this.params.generations) || this.params.generations < 1) throw new UserError(`caa generations must be a positive integer (got ${this.params.generations})`);
  }

  protected async attack(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, ctx: AttackContext): Promise<AttackResult> {
    const p = this.params;
    const first = capgdPerturb(clf, x, y, ctx.threat, p, { seed: ctx.seed, indices: ctx.indices, target: ctx.target, onIteration: ctx.opts.onIteration });
    const left: number[] = [];
    for (let i = 0; i < first.success.length; i++) if (!first.success[i]) left.push(i);
    if (!left.length) return first;
    const [xs, ys, ts] = [rows(x, left), rows(y, left), ctx.target ? rows(ctx.target, left) : undefined];
    const second = moevaSearch(clf, xs, ys, ctx.threat, p, { seed: ctx.seed, indices: left.map((i) => ctx.indices[i]!), target: ts });
    tf.dispose([xs, ys, ...(ts ? [ts] : [])]);
    const size = x.size / x.shape[0]!;
    const best = first.xAdv.dataSync().slice() as Float32Array;
    const found = second.xAdv.dataSync();
    left.forEach((i, j) => {
      first.queries[i]! += second.queries[j]!;
      if (!second.success[j]) return;
      first.success[i] = 1;
      first.distance[i] = second.distance[j]!;
      best.set(found.subarray(j * size, (j + 1) * size), i * size);
    });
    second.xAdv.dispose();
    first.xAdv.dispose();
    return { ...first, xAdv: tf.tensor(best, x.shape), iterations: Math.max(first.iterations, second.iterations) };
  }
}
