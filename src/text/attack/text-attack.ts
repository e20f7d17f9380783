import { deriveSeed, Rng } from '../../data/rng.js';
import type { TextThreat } from '../../threat/text-threat.js';
import type { TextClassifier } from '../text-classifier.js';
import type { Token } from '../tokenizer.js';
import { tokenPositions } from './positions.js';
import { AttackedText, attackBase } from './attacked-text.js';
import { threatConstraints } from './constraints.js';
import { TextGoal } from './goal.js';
import type { AttackContext, SearchMethod, TextConstraint, Transformation } from './parts.js';
import { readBack } from '../../engine/read-back.js';

/**
 * The parts of a text attack, TextAttack's four components: the goal function (here: the
 * class to avoid or reach and a query budget), the constraints (the threat's always apply;
 * these come on top), the transformation and the search method.
 *
 * @example
 * ```ts
 * const parts: TextAttackParts = { transformation: wordNetSwap(), search: pwwsSearch(), maxQueries: 5000 };
 * ```
 */
export interface TextAttackParts {
  transformation: Transformation;
  search: SearchMethod;
  /** Constraints beyond the threat's (budget of words, stop words, URLs / e-mail addresses / numbers untouched). */
  constraints?: readonly TextConstraint[];
  /** Query budget per message (candidate texts scored); default 5000. */
  maxQueries?: number;
  /** Candidates per forward pass; default 256. */
  batchSize?: number;
}

/**
 * How one message is attacked.
 *
 * @example
 * ```ts
 * const opts: TextAttackOptions = { threat: textThreat(defaultTokenizer()), seed: 0, index: 17 };
 * ```
 */
export interface TextAttackOptions {
  threat: TextThreat;
  seed?: number;
  /** The message's global index (its row in the data set): per-message randomness derives from (seed, index). */
  index?: number;
  /** Targeted: the class to reach. */
  target?: number;
}

/**
 * The outcome of attacking one message, as the attack saw it (the runner re-verifies it with a
 * fresh forward pass and the threat's check before it counts).
 *
 * @example
 * ```ts
 * const textClf = await loadTextClassifier('runs/text-cnn');
 * const o: TextAttackOutcome = createTextAttack('pwws').attack(textClf, 'Win a FREE prize now', 1, { threat: textThreat(textClf.tokenizer) });
 * if (o.success) console.log(o.adversarial);
 * ```
 */
export interface TextAttackOutcome {
  original: string;
  /** The adversarial text, or the best attempt (the original when nothing helped). */
  adversarial: string;
  success: boolean;
  /** Predicted class before and after, as the search saw them. */
  predBefore: number;
  predAfter: number;
  /** Candidate texts scored (queries to the model) and gradient computations. */
  queries: number;
  gradients: number;
  /** Word edits of the adversarial text as the search counts them. */
  changes: number;
  /** True when the model already missed the message: nothing was attacked. */
  skipped: boolean;
}

/**
 * A text attack built from parts (TextAttack's Attack): `attack` runs the search on one
 * message under a {@link TextThreat}; every candidate is filtered by the threat's constraints
 * and the recipe's own, and scored in batches by a goal function with a query budget. The five
 * built-in recipes (`pwws`, `genetic-text`, `hotflip`, `deepwordbug`, `goodword`) are instances;
 * a new recipe is a new combination of parts.
 *
 * @example
 * ```ts
 * // DeepWordBug's character edits driven by PWWS's weighted saliency, at most 5% of words:
 * const mine = new TextAttack('bug-pwws', { transformation: charEdits({ perWord: 8 }), search: pwwsSearch(), maxQueries: 3000 });
 * const textClf = await loadTextClassifier('runs/text-cnn');
 * const threat = textThreat(textClf.tokenizer, { maxShare: 0.05 });
 * const out = mine.attack(textClf, 'Get cheap meds now at http://x.biz', 1, { threat, seed: 0, index: 0 });
 * console.log(out.success, out.adversarial, out.queries);
 * ```
 */
export class TextAttack {
  constructor(
    readonly name: string,
    readonly parts: TextAttackParts,
    /** The settings, for result files. */
    readonly params: Readonly<Record<string, number | string | boolean>> = {},
  ) {}

  attack(clf: TextClassifier, text: string, label: number, opts: TextAttackOptions): TextAttackOutcome {
    const seed = opts.seed ?? 0;
    const index = opts.index ?? 0;
    const goal = new TextGoal(clf, { label, target: opts.target, maxQueries: this.parts.maxQueries ?? 5000, batchSize: this.parts.batchSize });
    const ctx: AttackContext = {
      clf,
      goal,
      transformation: this.parts.transformation,
      constraints: [...threatConstraints(opts.threat), ...(this.parts.constraints ?? [])],
      seed,
      index,
      rng: new Rng(deriveSeed(seed, 'text-attack', this.name, index)),
      placeholder: placeholderWord(clf),
    };
    const visible = (tokens: readonly Token[]) => tokenPositions(clf, tokens, readBack(() => clf.encode([text])) as Int32Array);
    const start = goal.score([new AttackedText(attackBase(text, clf.tokenizer, opts.threat, visible))])[0]!;
    const skipped = start.success;
    const best = skipped ? start : this.parts.search.search(start, ctx);
    return {
      original: text,
      adversarial: best.text.text,
      success: !skipped && best.success,
      predBefore: start.pred,
      predAfter: best.pred,
      queries: goal.queries,
      gradients: goal.gradients,
      changes: best.text.changes,
      skipped,
    };
  }
}

const PLACEHOLDERS = ['unk', 'xxunk', 'qxzv', 'zzqxj'];
const placeholderCache = new WeakMap<object, string>();

/** A word the model maps to its unknown id (what "removing" a word means to it). */
export function placeholderWord(clf: TextClassifier): string {
  let w = placeholderCache.get(clf);
  if (w === undefined) {
    w = PLACEHOLDERS.find((p) => clf.idOf(p) === 1) ?? 'qxzv';
    placeholderCache.set(clf, w);
  }
  return w;
}
