import { UserError } from '../errors.js';
import { ENGLISH_STOP_WORDS } from '../text/stop-words.js';
import type { Token, TokenKind, Tokenizer } from '../text/tokenizer.js';
import type { ThreatCheck, ThreatOver } from './threat.js';

/** Token kinds a text attack must leave exactly as they are: the spam must still work. */
export const PROTECTED_KINDS: readonly TokenKind[] = ['url', 'email', 'number'];

/**
 * The settings of a {@link TextThreat}.
 *
 * @example
 * ```ts
 * const spec: TextThreatSpec = { maxShare: 0.1 };
 * ```
 */
export interface TextThreatSpec {
  /** Largest share of the original's words an attack may change (substitute, edit, insert or delete), in (0, 1]; default 0.1. */
  maxShare?: number;
  /** Words never edited (lower case); default {@link ENGLISH_STOP_WORDS}. */
  stopWords?: ReadonlySet<string>;
}

/** One edit between an original text and its adversarial version, on non-space tokens. */
export interface WordChange {
  /** The original token ('' for an insertion). */
  from: string;
  /** The new token ('' for a deletion). */
  to: string;
}

/** What {@link TextThreat.diff} finds between two texts. */
export interface TextDiff {
  /** Word edits: substitutions, insertions, deletions of non-space tokens (a minimal alignment). */
  changes: WordChange[];
  /** Words of the original (tokens of kind `word`, at least 1 for the share). */
  words: number;
  /** changes.length / words. */
  share: number;
  /** Original tokens that must not change (URLs, e-mail addresses, numbers, stop words) but did. */
  violations: string[];
}

/**
 * A text threat (kind `'text'`): the attacker may change at most `maxShare` of a message's words
 * — swap a word, edit its characters, insert or delete words — but never a stop word, a URL, an
 * e-mail address or a number. Its measure `words` is the share of words changed: the number of
 * token edits of a minimal alignment of the two texts' non-space tokens, divided by the number
 * of words of the original. Like the tensor threats it checks results itself, from the two
 * strings alone, so every text attack is verified the same way whatever it did.
 *
 * @example
 * ```ts
 * const threat = textThreat(defaultTokenizer(), { maxShare: 0.1 });
 * const spam = 'Buy cheap meds now at http://x.biz, the best prices online today and every day';
 * const { inside, distance } = threat.check([spam], [spam.replace('cheap', 'inexpensive')]);
 * console.log(threat.toString(), inside[0], distance[0]); // words:0.1 1 0.0769…
 * ```
 */
export interface TextThreat extends ThreatOver<TextThreat, readonly string[]> {
  readonly kind: 'text';
  readonly measure: 'words';
  readonly maxShare: number;
  readonly stopWords: ReadonlySet<string>;
  readonly tokenizer: Tokenizer;
  /** Largest number of word edits allowed in a text with `words` words. */
  maxChanges(words: number): number;
  /** True for a token an attack may edit: a word that is not a stop word. */
  editable(token: Token): boolean;
  /** The edits turning `original` into `adversarial`, their share and any violation. */
  diff(original: string, adversarial: string): TextDiff;
}

const SLACK = 1e-9;

/**
 * The edit operations of a minimal alignment of `a` into `b` (Levenshtein, unit costs), in
 * order: `{i, j}` substitutes a[i] by b[j]; `j = −1` deletes a[i]; `i = −1` inserts b[j].
 * Attacks change few tokens, so the common prefix and suffix are skipped first.
 *
 * @example
 * ```ts
 * alignTokens(['buy', 'cheap', 'pills'], ['buy', 'inexpensive', 'pills']); // [{ i: 1, j: 1 }]
 * ```
 */
export function alignTokens(a: readonly string[], b: readonly string[]): { i: number; j: number }[] {
  let p = 0;
  while (p < a.length && p < b.length && a[p] === b[p]) p++;
  let s = 0;
  while (s < a.length - p && s < b.length - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
  const n = a.length - p - s;
  const m = b.length - p - s;
  const w = m + 1;
  const d = new Int32Array((n + 1) * w);
  for (let j = 0; j <= m; j++) d[j] = j;
  for (let i = 1; i <= n; i++) {
    d[i * w] = i;
    const ai = a[p + i - 1];
    for (let j = 1; j <= m; j++) {
      const sub = d[(i - 1) * w + j - 1]! + (ai === b[p + j - 1] ? 0 : 1);
      d[i * w + j] = Math.min(sub, d[(i - 1) * w + j]! + 1, d[i * w + j - 1]! + 1);
    }
  }
  const ops: { i: number; j: number }[] = [];
  let i = n;
  let j = m;
  while (i > 0 || j > 0) {
    const here = d[i * w + j]!;
    const same = i > 0 && j > 0 && a[p + i - 1] === b[p + j - 1];
    if (i > 0 && j > 0 && here === d[(i - 1) * w + j - 1]! + (same ? 0 : 1)) {
      if (!same) ops.push({ i: p + i - 1, j: p + j - 1 });
      i--;
      j--;
    } else if (i > 0 && here === d[(i - 1) * w + j]! + 1) {
      ops.push({ i: p + i - 1, j: -1 });
      i--;
    } else {
      ops.push({ i: -1, j: p + j - 1 });
      j--;
    }
  }
  return ops.reverse();
}

class TextThreatImpl implements TextThreat {
  readonly kind = 'text' as const;
  readonly measure = 'words' as const;
  readonly budget: number;
  constructor(
    readonly tokenizer: Tokenizer,
    readonly maxShare: number,
    readonly stopWords: ReadonlySet<string>,
  ) {
    this.budget = maxShare;
  }

  toString(): string {
    return `words:${this.maxShare}`;
  }

  maxChanges(words: number): number {
    return Math.floor(this.maxShare * words + SLACK);
  }

  editable(token: Token): boolean {
    return token.kind === 'word' && !this.stopWords.has(token.text.toLowerCase());
  }

  diff(original: string, adversarial: string): TextDiff {
    const a = this.tokenizer.tokenize(original).filter((t) => t.kind !== 'space');
    const b = this.tokenizer.tokenize(adversarial).filter((t) => t.kind !== 'space');
    const words = Math.max(1, a.reduce((c, t) => c + (t.kind === 'word' ? 1 : 0), 0));
    const changes: WordChange[] = [];
    const violations: string[] = [];
    for (const { i, j } of alignTokens(a.map((t) => t.text), b.map((t) => t.text))) {
      const from = i >= 0 ? a[i]! : undefined;
      changes.push({ from: from?.text ?? '', to: j >= 0 ? b[j]!.text : '' });
      if (from && (PROTECTED_KINDS.includes(from.kind) || this.stopWords.has(from.text.toLowerCase()))) violations.push(from.text);
    }
    return { changes, words, share: changes.length / words, violations };
  }

  check(x: readonly string[], xAdv: readonly string[]): ThreatCheck {
    if (x.length !== xAdv.length) throw new Error(`text threat check: ${x.length} originals but ${xAdv.length} adversarial texts`);
    const distance = new Float32Array(x.length);
    const inside = new Uint8Array(x.length);
    x.forEach((orig, k) => {
      const d = this.diff(orig, xAdv[k]!);
      distance[k] = d.share;
      inside[k] = d.violations.length === 0 && d.changes.length <= this.maxChanges(d.words) ? 1 : 0;
    });
    return { distance, inside };
  }

  scaled(factor: number): TextThreat {
    return new TextThreatImpl(this.tokenizer, Math.min(1, this.maxShare * factor), this.stopWords);
  }
}

/**
 * Makes a text threat over `tokenizer`'s tokens (the attacked model's own tokenizer).
 *
 * @example
 * ```ts
 * const threat = textThreat(defaultTokenizer(), { maxShare: 0.1 }); // words:0.1, English stop words kept
 * ```
 */
export function textThreat(tokenizer: Tokenizer, spec: TextThreatSpec = {}): TextThreat {
  const share = spec.maxShare ?? 0.1;
  if (!(share > 0 && share <= 1)) throw new UserError(`the share of words changed must be in (0, 1] (got ${share}); pass e.g. words:0.1`);
  return new TextThreatImpl(tokenizer, share, spec.stopWords ?? ENGLISH_STOP_WORDS);
}

/**
 * Parses a text threat's CLI form `words:SHARE` (e.g. `words:0.1`, or `words:10%`).
 *
 * @example
 * ```ts
 * const threat = parseTextThreat('words:0.1', defaultTokenizer());
 * ```
 */
export function parseTextThreat(text: string, tokenizer: Tokenizer): TextThreat {
  const m = /^\s*words\s*:\s*([0-9.]+)(%?)\s*$/.exec(text);
  if (!m) throw new UserError(`cannot read the text threat '${text}': write words:SHARE, e.g. words:0.1 (at most 10% of the words changed)`);
  return textThreat(tokenizer, { maxShare: Number(m[1]) / (m[2] ? 100 : 1) });
}

/**
 * True for a threat of kind `'text'`.
 *
 * @example
 * ```ts
 * if (isTextThreat(t)) console.log(t.maxShare);
 * ```
 */
export function isTextThreat(t: { kind: string }): t is TextThreat {
  return t.kind === 'text';
}
