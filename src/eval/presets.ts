import type * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.js';
import type { Classifier } from '../model/classifier.js';
import type { AnyThreat } from '../threat/threat.js';
import type { Attack, AttackOptions, AttackResult } from '../attacks/attack.js';
import { supportsThreat, type AttackSupport } from '../attacks/support.js';
import { Pgd } from '../attacks/pgd.js';
import { Apgd, ApgdTargeted, runTopKTargeted } from '../attacks/apgd.js';
import { Fab } from '../attacks/fab.js';
import { SquareAttack, SQUARE_SUPPORT } from '../attacks/square.js';
import { Capgd } from '../attacks/capgd.js';
import { Moeva } from '../attacks/moeva.js';

/**
 * Evaluation presets (AutoAttack's standard version is `standard`).
 *
 * @example
 * ```ts
 * const preset: PresetName = 'standard';
 * const members = presetMembers(preset, parseThreat('linf:0.3'));
 * ```
 */
export type PresetName = 'quick' | 'standard' | 'thorough' | 'tabular';
/**
 * Every preset, from the fastest to the most thorough.
 *
 * @example
 * ```ts
 * for (const preset of PRESETS) console.log(preset, presetMembers(preset, parseThreat('linf:0.3')).length);
 * ```
 */
export const PRESETS: PresetName[] = ['quick', 'standard', 'thorough', 'tabular'];

/** How an ensemble member may access the model (for the white-box vs black-box check). */
export type Access = 'white-box' | 'black-box';

/**
 * One attack of an evaluation ensemble.
 *
 * @example
 * ```ts
 * const members: Member[] = [{ attack: new Pgd({ steps: 50 }), access: 'white-box' }, { attack: new SquareAttack(), access: 'black-box' }];
 * const result = await evaluateEnsemble(clf, subset(test, 200), { threat: parseThreat('linf:0.3'), members });
 * ```
 */
export interface Member {
  attack: Attack;
  access: Access;
}

/**
 * An attack run, untargeted, as the best of targeted runs against the k most likely wrong
 * classes (AutoAttack's FAB-T and APGD-T).
 */
export class TopKTargeted implements Attack {
  readonly params: Readonly<Record<string, unknown>>;
  constructor(
    private readonly inner: Attack,
    readonly name: string,
    private readonly k = 9,
  ) {
    this.params = { ...inner.params, targetClasses: k };
  }
  get support(): AttackSupport {
    return this.inner.support;
  }
  run(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, opts: AttackOptions): Promise<AttackResult> {
    return runTopKTargeted(this.inner, clf, x, y, opts, this.k);
  }
}

/**
 * The attacks of a preset for a threat model.
 * - quick: PGD-20 and APGD-CE.
 * - standard (AutoAttack, standard version): APGD-CE, APGD-T (DLR, 9 targets), FAB-T (9 targets), Square (5000 queries).
 * - thorough: standard with 5 restarts of APGD-CE, plus PGD with the CW margin loss (100 steps, 5 restarts).
 * - tabular (CAA, Simonetto et al. 2024): CAPGD, then MOEVA on the survivors; both keep the
 *   records valid in the data's domain (types, immutables, relations).
 *
 * @example
 * ```ts
 * const members = presetMembers('standard', parseThreat('linf:0.3'));
 * ```
 */
export function presetMembers(preset: string, threat: AnyThreat): Member[] {
  const white = (attack: Attack): Member => ({ attack, access: 'white-box' });
  const black = (attack: Attack): Member => ({ attack, access: 'black-box' });
  const square = () => (supportsThreat(SQUARE_SUPPORT, threat) ? [black(new SquareAttack({ maxQueries: 5000 }))] : []);
  switch (preset as PresetName) {
    case 'quick':
      return [white(new Pgd({ steps: 20 })), white(new Apgd({ loss: 'ce', steps: 100 }))];
    case 'standard':
      return [
        white(new Apgd({ loss: 'ce', steps: 100 })),
        white(new ApgdTargeted({ steps: 100, targetClasses: 9 })),
        white(new TopKTargeted(new Fab({ steps: 100 }), 'fab-t', 9)),
        ...square(),
      ];
    case 'thorough':
      return [
        white(new Apgd({ loss: 'ce', steps: 100, restarts: 5 })),
        white(new ApgdTargeted({ steps: 100, targetClasses: 9 })),
        white(new TopKTargeted(new Fab({ steps: 100 }), 'fab-t', 9)),
        white(new Pgd({ steps: 100, restarts: 5, loss: 'cw' }, 'pgd-cw')),
        ...square(),
      ];
    case 'tabular':
      return [white(new Capgd()), black(new Moeva())];
    default:
      throw new UserError(`unknown --preset '${preset}': choose one of ${PRESETS.join(', ')}`);
  }
}
