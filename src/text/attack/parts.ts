import type { Rng } from '../../data/rng.js';
import type { TextClassifier } from '../text-classifier.js';
import type { AttackedText } from './attacked-text.js';
import type { Scored, TextGoal } from './goal.js';

/**
 * What a transformation, a constraint or a search sees while one message is attacked.
 *
 * @example
 * ```ts
 * const cands = ctx.transformation.transform(current, ctx, [slot]);
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
 * const swap: Transformation = wordNetSwap({ maxCandidates: 20 });
 * const cands = swap.transform(current, ctx, [slot]);
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
 * const budget: TextConstraint = maxWordsChanged();
 * const ok = budget.allows(cands); // [true, false, …]
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
 * const best = pwwsSearch().search(start, ctx);
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
