import type { Rng } from '../../data/rng.js';
import type { TextClassifier } from '../text-classifier.js';
import type { AttackedText } from './attacked-text.js';
import type { Scored, TextGoal } from './goal.js';

/**
 * What a transformation, a constraint or a search sees while one message is attacked.
 *
 * @example
 * ```ts
 * const everySlot: Transformation = {
 *   name: 'log-slots',
 *   transform: (t, ctx: AttackContext) => (console.log(ctx.index, t.base.editable.length), []),
 * };
 * ```
 */
export interface AttackContext {
  readonly clf: TextClassifier;
  readonly goal: TextGoal;
  readonly transformation: Transformation;
  readonly constraints: readonly TextConstraint[];
  /** The run's seed and the message's global index: per-message randomness derives from both. */
  readonly seed: number;
  readonly index: number;
  /** A random stream for this message (derived from seed and index). */
  readonly rng: Rng;
  /** A word the model does not know (its unknown token), for word-importance ranking. */
  readonly placeholder: string;
}

/**
 * A transformation (TextAttack's term): proposes candidate texts by editing one word slot
 * (a token index) of the current text, or anywhere it likes when no slots are given. It never
 * checks constraints; the search filters its candidates with {@link allowed}.
 *
 * @example
 * ```ts
 * // Swap every editable word for its upper-case spelling:
 * const shout: Transformation = { name: 'shout', transform: (t, _ctx, slots) => (slots ?? t.base.editable).map((i) => t.replace(i, t.wordAt(i).toUpperCase())) };
 * const attack = new TextAttack('shout', { transformation: shout, search: greedyWordImportance() });
 * ```
 */
export interface Transformation {
  readonly name: string;
  /** Candidates from editing `slots` of `t` (all editable words when absent). */
  transform(t: AttackedText, ctx: AttackContext, slots?: readonly number[]): AttackedText[];
}

/**
 * A constraint: decides for a whole batch of candidates at once, before any query, whether
 * each is allowed.
 *
 * @example
 * ```ts
 * // Never edit a word of fewer than 4 letters:
 * const longWords: TextConstraint = { name: 'long-words', allows: (cands) => cands.map((c) => [...c.replaced.keys()].every((i) => c.base.tokens[i]!.text.length >= 4)) };
 * const attack = new TextAttack('pwws-long', { transformation: wordNetSwap(), search: pwwsSearch(), constraints: [longWords] });
 * ```
 */
export interface TextConstraint {
  readonly name: string;
  allows(cands: readonly AttackedText[]): boolean[];
}

/**
 * A search method: from the scored original, explores candidates (proposed by the context's
 * transformation, filtered by its constraints, scored by its goal in batches) and returns the
 * best one found — a success as soon as one is found, or the best attempt when the budget or
 * the candidates run out.
 *
 * @example
 * ```ts
 * // Score every candidate of every word once and keep the best one:
 * const oneShot: SearchMethod = { name: 'one-shot', search: (start, ctx) => ctx.goal.score(ctx.transformation.transform(start.text, ctx)).reduce((a, b) => (b.score > a.score ? b : a), start) };
 * const attack = new TextAttack('one-shot', { transformation: wordNetSwap(), search: oneShot });
 * ```
 */
export interface SearchMethod {
  readonly name: string;
  search(start: Scored, ctx: AttackContext): Scored;
}

/**
 * The candidates every constraint allows (checked in one pass over the batch per constraint).
 *
 * @example
 * ```ts
 * const ok = allowed(ctx, ctx.transformation.transform(current, ctx));
 * ```
 */
export function allowed(ctx: AttackContext, cands: readonly AttackedText[]): AttackedText[] {
  let out = cands as AttackedText[];
  for (const c of ctx.constraints) {
    const ok = c.allows(out);
    out = out.filter((_, k) => ok[k]);
  }
  return out;
}

/** The best of scored candidates (the first on ties); undefined for none. */
export function bestOf(scored: readonly Scored[]): Scored | undefined {
  let best: Scored | undefined;
  for (const s of scored) if (!best || s.score > best.score) best = s;
  return best;
}
