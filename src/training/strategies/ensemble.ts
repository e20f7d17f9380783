import { UserError } from '../../errors.js';
import type { Classifier } from '../../model/classifier.js';
import type { TrainingStrategy } from '../strategy.js';
import type { Crafting } from './adversarial.js';
import { mixed } from './mixed.js';

/**
 * Ensemble adversarial training (Tramèr et al. 2018): the adversarial share of each batch is
 * crafted, in rotation, on the model being trained and on each fixed, pre-trained static model,
 * so the model also learns from perturbations that transfer from other models.
 * `sources` records which model each batch's examples came from.
 *
 * @example
 * ```ts
 * const s = ensemble([staticA, staticB], 0.5, { steps: 1, stepFactor: 1, randomStart: false, loss: 'ce' });
 * ```
 */
export function ensemble(statics: Classifier[], ratio: number, c: Crafting): TrainingStrategy & { sources: string[] } {
  if (statics.length === 0) throw new UserError('--method ensemble needs --static-models DIR[,DIR…]');
  const sources: string[] = [];
  let turn = 0;
  const pick = (clf: Classifier): Classifier => {
    const k = turn++ % (statics.length + 1);
    sources.push(k === 0 ? 'self' : `static${k}`);
    return k === 0 ? clf : statics[k - 1]!;
  };
  const base = mixed(ratio, c, 'ensemble', pick);
  return {
    ...base,
    params: { ...base.params, staticModels: statics.length },
    sources,
    saveState: () => ({ json: { turn } }),
    loadState: (st) => {
      if (typeof st.json?.turn === 'number') turn = st.json.turn;
    },
  };
}
