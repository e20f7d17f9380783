import type { TextThreat } from '../../threat/text-threat.js';
import type { AttackedText } from './attacked-text.js';
import type { TextConstraint } from './parts.js';

/**
 * At most the threat's share of the message's words changed (replacements plus insertions).
 *
 * @example
 * ```ts
 * const c = maxWordsChanged(); // the limit each message carries in its AttackBase
 * ```
 */
export function maxWordsChanged(): TextConstraint {
  return { name: 'max-words-changed', allows: (cands) => cands.map((c) => c.changes <= c.base.maxChanges) };
}

/**
 * Only editable words are replaced: never a stop word, a URL, an e-mail address, a number or
 * punctuation (the threat's {@link TextThreat.editable} rule).
 *
 * @example
 * ```ts
 * const c = onlyEditableWords(threat);
 * ```
 */
export function onlyEditableWords(threat: TextThreat): TextConstraint {
  const ok = (c: AttackedText): boolean => {
    for (const i of c.replaced.keys()) if (!threat.editable(c.base.tokens[i]!)) return false;
    return true;
  };
  return { name: 'only-editable-words', allows: (cands) => cands.map(ok) };
}

/**
 * Replacement and inserted words are single words: they contain no white space, so that the
 * message keeps its token structure (URLs cannot be split or glued to a neighbour).
 *
 * @example
 * ```ts
 * const c = singleTokenEdits();
 * ```
 */
export function singleTokenEdits(): TextConstraint {
  const ok = (c: AttackedText): boolean => {
    for (const w of c.replaced.values()) if (!w || /\s/u.test(w)) return false;
    for (const ws of c.inserted.values()) for (const w of ws) if (!w || /\s/u.test(w)) return false;
    return true;
  };
  return { name: 'single-token-edits', allows: (cands) => cands.map(ok) };
}

/**
 * The constraints a text threat imposes on every recipe.
 *
 * @example
 * ```ts
 * const constraints = [...threatConstraints(threat), myOwnConstraint];
 * ```
 */
export function threatConstraints(threat: TextThreat): TextConstraint[] {
  return [maxWordsChanged(), onlyEditableWords(threat), singleTokenEdits()];
}
