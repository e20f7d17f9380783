import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../model/classifier.js';
import type { AttackResult } from './attack.js';
import type { AttackSupport } from './support.js';
import { CheckedAttack, type AttackContext } from './checked.js';
import { probe } from './gradient.js';
import { pgdStep } from './pgd-step.js';
import { isSuccess, type AttackLoss } from './losses.js';
import { AttackTracker } from './tracker.js';
import { UserError } from '../errors.js';
import { deriveSeed } from '../data/rng.js';

/**
 * Hyperparameters of {@link Fgsm}.
 *
 * @example
 * ```ts
 * const params: Partial<FgsmParams> = { randomStart: true, stepSize: 0.375 };
 * const fgsmRs = new Fgsm(params);
 * ```
 */
export type FgsmParams = {
  /** Step length in the threat's norm. Default ε (the classic one-step attack). */
  stepSize?: number;
  /** Start from a random point of the ball (Wong et al.'s FGSM-RS). Default false. */
  randomStart: boolean;
  loss: AttackLoss;
};

/** The threats, model access and hyperparameters of {@link Fgsm}. */
export const FGSM_SUPPORT: AttackSupport = { norms: ['linf', 'l2', 'l1'], access: 'gradient', params: ['stepSize', 'randomStart', 'loss'] };
/**
 * Fast Gradient (Sign) Method, Goodfellow et al. 2015: one step along the steepest-ascent
 * direction of the threat's norm (sign for Linf — FGSM; normalised gradient for L2 — FGM).
 *
 * @example
 * ```ts
 * const r = await new Fgsm().run(clf, x, y, { threat: parseThreat('linf:0.3') });
 * ```
 */
export class Fgsm extends CheckedAttack<FgsmParams> {

  constructor(params: Partial<FgsmParams> = {}) {
    super('fgsm', FGSM_SUPPORT, { randomStart: false, loss: 'ce' }, params);
    if (this.params.stepSize !== undefined && !(this.params.stepSize > 0)) throw new UserError(`--step-size must be positive (got ${this.params.stepSize})`);
  }

  protected async attack(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, ctx: AttackContext): Promise<AttackResult> {
    const { threat, target, seed, indices, opts } = ctx;
    const tracker = new AttackTracker(x);
    const all = tracker.activeIndices();
    const start = this.params.randomStart ? threat.randomStart(x, clf.domain, deriveSeed(seed, 'fgsm-start'), indices) : x.clone();
    const pr = probe(clf, start, y, this.params.loss, target);
    const xAdv = pgdStep(threat, start, x, pr.grad, this.params.stepSize ?? threat.eps, clf.domain);
    const ok = tf.tidy(() => isSuccess(clf.logits(xAdv), y, target));
    tracker.count(all, 2);
    tracker.offer(all, xAdv, ok.dataSync());
    tf.dispose([start, pr.logits, pr.objective, pr.success, pr.grad, xAdv, ok]);
    opts.onIteration?.(0, 0);
    return tracker.result(threat, 1);
  }
}
