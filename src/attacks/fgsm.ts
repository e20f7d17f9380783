import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../model/classifier.js';
import type { Attack, AttackOptions, AttackResult } from './attack.js';
import { requireThreat, type AttackSupport } from './support.js';
import { probe } from './gradient.js';
import { isSuccess, type AttackLoss } from './losses.js';
import { AttackTracker } from './tracker.js';
import { UserError } from '../errors.js';

/** Hyperparameters of {@link Fgsm}. */
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
export class Fgsm implements Attack {
  readonly name = 'fgsm';
  readonly support = FGSM_SUPPORT;
  readonly params: FgsmParams;

  constructor(params: Partial<FgsmParams> = {}) {
    this.params = { randomStart: false, loss: 'ce', ...params };
    if (this.params.stepSize !== undefined && !(this.params.stepSize > 0)) throw new UserError(`--step-size must be positive (got ${this.params.stepSize})`);
  }

  async run(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, opts: AttackOptions): Promise<AttackResult> {
    requireThreat(this.name, this.support, opts.threat);
    const { threat } = opts;
    const target = opts.targeted ? opts.targets : undefined;
    if (opts.targeted && !target) throw new UserError('a targeted attack needs target classes');
    const tracker = new AttackTracker(x);
    const all = tracker.activeIndices();
    const start = this.params.randomStart ? threat.randomStart(x, clf.domain, opts.seed ?? 0) : x.clone();
    const pr = probe(clf, start, y, this.params.loss, target);
    const xAdv = tf.tidy(() => threat.project(tf.add(start, threat.ascentStep(pr.grad, this.params.stepSize ?? threat.eps)), x, clf.domain));
    const ok = tf.tidy(() => isSuccess(clf.logits(xAdv), y, target));
    tracker.count(all, 2);
    tracker.offer(all, xAdv, ok.dataSync());
    tf.dispose([start, pr.logits, pr.objective, pr.success, pr.grad, xAdv, ok]);
    opts.onIteration?.(0, 0);
    return tracker.result(threat, 1);
  }
}
