import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../../errors.js';
import type { TrainingStrategy } from '../strategy.js';
import { ce, klRows } from './adversarial.js';
import { pgdStep } from '../../attacks/pgd-step.js';

/**
 * The TRADES objective: CE(f(x), y) + β · mean_i KL(softmax f(x_i) ‖ softmax f(x'_i)).
 *
 * @example
 * ```ts
 * const l = tradesLoss(ys, natLogits, advLogits, 6);
 * ```
 */
export function tradesLoss(ys: tf.Tensor2D, natLogits: tf.Tensor2D, advLogits: tf.Tensor2D, beta: number): tf.Scalar {
  return tf.tidy(() => tf.add(ce(ys, natLogits), tf.mul(beta, tf.mean(klRows(natLogits, advLogits)))) as tf.Scalar);
}

/**
 * TRADES (Zhang et al. 2019): x' maximises KL(f(x) ‖ f(x')) by PGD from x + 0.001·N(0, 1);
 * the model minimises CE on clean inputs plus β times that KL.
 *
 * @example
 * ```ts
 * const s = trades({ beta: 6, steps: 40, stepFactor: 0.01 / 0.3 });
 * ```
 */
export function trades(o: { beta?: number; steps?: number; stepFactor?: number } = {}): TrainingStrategy {
  const beta = o.beta ?? 6;
  const steps = o.steps ?? 10;
  const stepFactor = o.stepFactor ?? 2.5 / steps;
  if (!(beta >= 0)) throw new UserError(`--beta must be ≥ 0 (got ${beta})`);
  if (!Number.isInteger(steps) || steps < 1) throw new UserError(`--attack-steps must be a positive integer (got ${steps})`);
  return {
    name: 'trades',
    params: { beta, steps, stepFactor },
    prepare(clf, ctx) {
      const threat = ctx.threat!;
      const pNat = tf.tidy(() => clf.logits(ctx.xs));
      const kl = (xi: tf.Tensor) => tf.sum(klRows(pNat, clf.logits(xi))) as tf.Scalar;
      const g = tf.grad(kl);
      let cur = tf.tidy(() => threat.project(tf.add(ctx.xs, tf.randomNormal(ctx.xs.shape, 0, 0.001, 'float32', ctx.seed)), ctx.xs, clf.domain));
      for (let s = 0; s < steps; s++) {
        const next = tf.tidy(() => pgdStep(threat, cur, ctx.xs, g(cur), stepFactor * threat.eps, clf.domain));
        cur.dispose();
        cur = next;
      }
      pNat.dispose();
      return cur;
    },
    loss(clf, ctx, xAdv) {
      const nat = clf.trainingLogits(ctx.xs);
      const adv = clf.trainingLogits(xAdv!);
      return { loss: tradesLoss(ctx.ys, nat, adv, beta), clean: { logits: nat }, adv: { logits: adv } };
    },
  };
}
