import { UserError } from '../../errors.js';
import type { TrainingStrategy } from '../strategy.js';
import { ce, craft, type Crafting } from './adversarial.js';

/**
 * Train on adversarial inputs only (Madry et al. 2018: PGD-k with random start; with
 * `steps: 1, stepFactor: 1.25, randomStart: true` it is Wong et al.'s FGSM-RS).
 *
 * @example
 * ```ts
 * const s = adversarialOnly('pgd-at', { steps: 40, stepFactor: 0.01 / 0.3, randomStart: true, loss: 'ce' });
 * ```
 */
export function adversarialOnly(name: string, c: Crafting, onCollapse?: () => string | undefined): TrainingStrategy {
  if (!Number.isInteger(c.steps) || c.steps < 1) throw new UserError(`--attack-steps must be a positive integer (got ${c.steps})`);
  if (!(c.stepFactor > 0)) throw new UserError(`the attack step size must be positive (got ${c.stepFactor}·ε)`);
  return {
    name,
    params: { ...c },
    prepare: (clf, ctx) => craft(clf, ctx, c),
    loss(clf, ctx, xAdv) {
      const logits = clf.trainingLogits(xAdv!);
      return { loss: ce(ctx.ys, logits), adv: { logits } };
    },
    onCollapse,
  };
}

/**
 * Wong, Rice & Kolter 2020 ("fast is better than free"): FGSM from a uniform random start with
 * α = 1.25ε; as in their reference code, the first gradient is taken at the unclipped x + δ. On collapse (catastrophic overfitting) α is lowered by a quarter, down to 0.5ε,
 * then training stops.
 *
 * @example
 * ```ts
 * const s = fgsmRs({ alpha: 1.25 });
 * ```
 */
export function fgsmRs(opts: { alpha?: number; randomStart?: boolean } = {}): TrainingStrategy {
  const c: Crafting = { steps: 1, stepFactor: opts.alpha ?? 1.25, randomStart: opts.randomStart ?? true, loss: 'ce', clipStart: false };
  const s = adversarialOnly('fgsm-rs', c, () => {
    const next = c.stepFactor * 0.75;
    if (next < 0.5) return undefined;
    c.stepFactor = next;
    return `α lowered to ${next.toFixed(3)}·ε`;
  });
  return {
    ...s,
    saveState: () => ({ json: { stepFactor: c.stepFactor } }),
    loadState: (st) => {
      if (typeof st.json?.stepFactor === 'number') c.stepFactor = st.json.stepFactor;
    },
  };
}
