import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../../errors.js';
import type { BatchContext, TrainingStrategy } from '../strategy.js';
import { ce } from './adversarial.js';
import { pgdStep } from '../../attacks/pgd-step.js';

let freeCount = 0;

/**
 * Free adversarial training (Shafahi et al. 2019): every minibatch is replayed `m` times; each
 * replay does ONE backward pass that yields both the weight gradient (applied by the optimizer)
 * and the perturbation gradient (an FGSM step of ε on δ, kept across minibatches and replays).
 * `--epochs` counts passes over the data, so a run costs m× the steps of standard training:
 * divide the epochs by m to match its budget, as the paper does.
 *
 * @example
 * ```ts
 * const s = free(8);
 * ```
 */
export function free(m: number): TrainingStrategy & { backwardPasses(): number } {
  if (!Number.isInteger(m) || m < 1) throw new UserError(`--replays must be a positive integer (got ${m})`);
  let delta: tf.Variable | undefined;
  let backward = 0;
  const id = freeCount++;
  const ensure = (ctx: BatchContext): tf.Variable => {
    const shape = ctx.xs.shape;
    if (!delta || delta.shape[0]! < shape[0]!) {
      delta?.dispose();
      const zeros = tf.zeros(shape);
      delta = tf.variable(zeros, false, `free_delta_${id}`);
      zeros.dispose();
    }
    return delta;
  };
  const current = (ctx: BatchContext, d: tf.Tensor) => tf.slice(d, 0, ctx.xs.shape[0]!);
  return {
    name: 'free',
    params: { replays: m },
    replays: m,
    extraVariables: (ctx) => [ensure(ctx)],
    loss(clf, ctx) {
      const threat = ctx.threat!;
      backward++;
      const xAdv = threat.project(tf.add(ctx.xs, current(ctx, ensure(ctx))), ctx.xs, clf.domain);
      const logits = clf.trainingLogits(xAdv);
      return { loss: ce(ctx.ys, logits), adv: { logits } };
    },
    afterStep(grads, ctx) {
      const d = ensure(ctx);
      const g = grads[d.name];
      if (!g) return;
      tf.tidy(() => {
        const threat = ctx.threat!;
        const b = ctx.xs.shape[0]!;
        const cur = current(ctx, d);
        const stepped = pgdStep(threat, tf.add(ctx.xs, cur), ctx.xs, tf.slice(g, 0, b), threat.eps, { lower: -Infinity, upper: Infinity });
        const next = tf.sub(stepped, ctx.xs);
        d.assign(b === d.shape[0] ? next : tf.concat([next, tf.slice(d, b)], 0));
      });
    },
    dispose() {
      delta?.dispose();
      delta = undefined;
    },
    saveState: () => ({ json: { backward }, tensors: delta ? { delta } : undefined }),
    loadState(st) {
      backward = typeof st.json?.backward === 'number' ? st.json.backward : backward;
      const d = st.tensors?.delta;
      if (!d) return;
      delta?.dispose();
      delta = tf.variable(d, false, `free_delta_${id}`);
    },
    backwardPasses: () => backward,
  };
}
