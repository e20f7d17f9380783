import type { TextClassifier } from '../text-classifier.js';
import type { Token } from '../tokenizer.js';

/**
 * The model position (index into `encode`'s row) of each token, or −1 when the model does not
 * see it: tokens are matched in order against the encoded ids (a token the encoding drops is
 * skipped; truncation leaves the tail at −1).
 *
 * @example
 * ```ts
 * const pos = tokenPositions(clf, tokens, ids); // pos[i] = column of token i in encode's row, or −1
 * ```
 */
export function tokenPositions(clf: TextClassifier, tokens: readonly Token[], ids: Int32Array): Int32Array {
  const pos = new Int32Array(tokens.length).fill(-1);
  const idOf = (t: Token) => clf.idOf(t.text.toLowerCase());
  let p = 0;
  for (let i = 0; i < tokens.length && p < ids.length && ids[p] !== 0; i++) {
    if (tokens[i]!.kind === 'space') continue;
    if (idOf(tokens[i]!) === ids[p]) {
      pos[i] = p++;
      continue;
    }
    // Not its own id: dropped by the encoding when the next token explains ids[p], else encoded
    // as some special id (e.g. one for all URLs) and consumed.
    let j = i + 1;
    while (j < tokens.length && tokens[j]!.kind === 'space') j++;
    if (!(j < tokens.length && idOf(tokens[j]!) === ids[p])) p++;
  }
  return pos;
}

