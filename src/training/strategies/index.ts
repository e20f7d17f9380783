import { UserError } from '../../errors.js';
import type { Classifier } from '../../model/classifier.js';
import { standardStrategy, type TrainingStrategy } from '../strategy.js';
import type { Crafting } from './adversarial.js';
import { adversarialOnly, fgsmRs } from './pgd-at.js';
import { mixed } from './mixed.js';
import { free } from './free.js';
import { trades } from './trades.js';
import { mart } from './mart.js';
import { ensemble } from './ensemble.js';
import { a2t } from './a2t.js';
import { embeddingPgd } from './embedding-pgd.js';
import type { TextPreprocessing } from '../../text/text-classifier.js';
import { capgdAt, moevaAugmented } from './tabular.js';

export { craft, ce, klRows, type Crafting } from './adversarial.js';
export { adversarialOnly, fgsmRs } from './pgd-at.js';
export { mixed, adversarialRows } from './mixed.js';
export { free } from './free.js';
export { trades, tradesLoss } from './trades.js';
export { mart, martLoss } from './mart.js';
export { ensemble } from './ensemble.js';
export { a2t, type A2tOptions } from './a2t.js';
export { embeddingPgd, projectTokens, type EmbeddingPgdOptions } from './embedding-pgd.js';
export { capgdAt, moevaAugmented } from './tabular.js';

/**
 * Training methods by CLI name.
 *
 * @example
 * ```ts
 * const method: Method = 'trades';
 * const strategy = makeStrategy(method, { eps: 0.3 });
 * ```
 */
export type Method = 'standard' | 'mixed' | 'pgd-at' | 'fgsm-rs' | 'free' | 'trades' | 'mart' | 'ensemble' | 'a2t' | 'embedding-pgd' | 'capgd-at' | 'moeva-aug';
/**
 * Every training method by its CLI name.
 *
 * @example
 * ```ts
 * if (!METHODS.includes(name as Method)) throw new Error(`choose one of ${METHODS.join(', ')}`);
 * ```
 */
export const METHODS: Method[] = ['standard', 'mixed', 'pgd-at', 'fgsm-rs', 'free', 'trades', 'mart', 'ensemble', 'a2t', 'embedding-pgd', 'capgd-at', 'moeva-aug'];

/**
 * Methods that train text models only (they need the model's embedding and the vocabulary).
 *
 * @example
 * ```ts
 * TEXT_ONLY_METHODS.includes('a2t'); // true
 * ```
 */
export const TEXT_ONLY_METHODS: Method[] = ['a2t', 'embedding-pgd'];

/** Methods whose adversarial examples come from a single gradient step (prone to catastrophic overfitting). */
export const SINGLE_STEP_METHODS: Method[] = ['fgsm-rs', 'free', 'mixed', 'ensemble'];

/**
 * Options of {@link makeStrategy}; unset values take each method's published default.
 *
 * @example
 * ```ts
 * const opts: MethodOptions = { eps: 0.3, attackSteps: 10 };
 * const strategy = makeStrategy('pgd-at', opts);
 * ```
 */
export interface MethodOptions {
  /** Budget ε, to turn an absolute --step-size into a multiple of ε. */
  eps: number;
  /** mixed/ensemble: attack crafting the adversarial share: 'fgsm' or 'pgd'. */
  attack?: string;
  /** PGD steps of pgd-at, trades, mart and mixed/ensemble with pgd; CAPGD steps of capgd-at; MOEVA generations of moeva-aug. */
  attackSteps?: number;
  /** Absolute step size of the crafting attack. */
  stepSize?: number;
  /** mixed/ensemble/capgd-at/moeva-aug: share of adversarial examples per batch. Default 0.5. */
  advRatio?: number;
  /** fgsm-rs: α as a multiple of ε. Default 1.25. */
  alpha?: number;
  /** fgsm-rs: start from a random point (default true; false reproduces plain FGSM training). */
  randomStart?: boolean;
  /** free: replays per minibatch. Default 8. */
  replays?: number;
  /** trades β / mart λ. Default 6. */
  beta?: number;
  /** ensemble: the fixed models. */
  staticModels?: Classifier[];
  /** a2t / embedding-pgd: the text model's tokenizer and vocabulary (required by them). */
  text?: TextPreprocessing;
  /** a2t: largest share of a text's words replaced (the `words:SHARE` threat). Default 0.1. */
  maxShare?: number;
  /** embedding-pgd: perturb only this share of the most salient tokens (default: all tokens). */
  salient?: number;
  /** a2t / embedding-pgd: good words inserted per augmented text (default 0: the published methods). */
  goodWords?: number;
}

/**
 * Builds a training strategy by method name.
 *
 * @example
 * ```ts
 * const s = makeStrategy('pgd-at', { eps: 0.3, attackSteps: 40, stepSize: 0.01 });
 * ```
 */
export function makeStrategy(method: string, o: MethodOptions): TrainingStrategy {
  const steps = o.attackSteps ?? 10;
  const factor = (dflt: number) => (o.stepSize !== undefined ? o.stepSize / o.eps : dflt);
  const crafting = (): Crafting => {
    const a = o.attack ?? 'fgsm';
    if (a === 'fgsm') return { steps: 1, stepFactor: factor(1), randomStart: false, loss: 'ce' };
    if (a === 'pgd') return { steps, stepFactor: factor(2.5 / steps), randomStart: true, loss: 'ce' };
    throw new UserError(`--attack for training must be fgsm or pgd (got '${a}')`);
  };
  const textOf = (m: string, mo: MethodOptions): TextPreprocessing => {
    if (!mo.text) throw new UserError(`--method ${m} trains text models: use a text data set (spam, spam-collection, csv:FILE) and a token model (text-cnn, text-bag)`);
    return mo.text;
  };
  switch (method as Method) {
    case 'standard':
      return standardStrategy;
    case 'mixed':
      return mixed(o.advRatio ?? 0.5, crafting());
    case 'pgd-at':
      return adversarialOnly('pgd-at', { steps, stepFactor: factor(2.5 / steps), randomStart: true, loss: 'ce' });
    case 'fgsm-rs':
      return fgsmRs({ alpha: o.stepSize !== undefined ? o.stepSize / o.eps : o.alpha, randomStart: o.randomStart });
    case 'free':
      return free(o.replays ?? 8);
    case 'trades':
      return trades({ beta: o.beta, steps, stepFactor: factor(2.5 / steps) });
    case 'mart':
      return mart({ lambda: o.beta, steps, stepFactor: factor(2.5 / steps) });
    case 'ensemble':
      return ensemble(o.staticModels ?? [], o.advRatio ?? 0.5, crafting());
    case 'a2t':
      return a2t(textOf(method, o), { advRatio: o.advRatio, maxShare: o.maxShare, steps: o.attackSteps, goodWords: o.goodWords });
    case 'embedding-pgd':
      return embeddingPgd(textOf(method, o), { steps: o.attackSteps, stepFactor: o.stepSize !== undefined ? o.stepSize / o.eps : undefined, salient: o.salient, goodWords: o.goodWords, advRatio: o.advRatio });
    case 'capgd-at':
      return capgdAt({ ratio: o.advRatio, steps: o.attackSteps });
    case 'moeva-aug':
      return moevaAugmented({ ratio: o.advRatio, generations: o.attackSteps });
    default:
      throw new UserError(`unknown training method '${method}': choose one of ${METHODS.join(', ')}`);
  }
}
