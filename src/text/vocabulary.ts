import { UserError } from '../errors.js';
import { isModelToken, tokenKey, type Tokenizer } from './tokenizer.js';

/** Id of padding (positions after the end of a short text). */
export const PAD_ID = 0;
/** Id of every token the vocabulary does not hold. */
export const UNKNOWN_ID = 1;
const PAD = '<pad>';
const UNKNOWN = '<unk>';

/**
 * How a vocabulary is built: tokens seen fewer than `minCount` times are unknown, and only the
 * `maxSize` ids (padding and unknown included) of the most frequent tokens are kept.
 *
 * @example
 * ```ts
 * const opts: VocabularyOptions = { minCount: 2, maxSize: 20000 };
 * const vocab = buildVocabulary(['free money', 'free offer'], defaultTokenizer(), opts);
 * ```
 */
export interface VocabularyOptions {
  /** Default 2. */
  minCount?: number;
  /** Default 20000. */
  maxSize?: number;
}

/**
 * Token ↔ id. Keys are lower-cased token texts (words, numbers, URLs, addresses, punctuation);
 * id 0 is padding, 1 unknown, then tokens by falling frequency (ties in code-unit order), so the
 * same texts always give the same ids.
 *
 * @example
 * ```ts
 * const vocab = buildVocabulary(['free money', 'free offer'], defaultTokenizer(), { minCount: 1 });
 * vocab.idOf('FREE'); // 2
 * vocab.wordOf(2);    // 'free'
 * ```
 */
export class Vocabulary {
  private readonly index: Map<string, number>;

  /** `words[i]` is the key of id i; words[0] and words[1] are the padding and unknown markers. */
  constructor(readonly words: readonly string[]) {
    if (words[PAD_ID] !== PAD || words[UNKNOWN_ID] !== UNKNOWN) throw new Error('a vocabulary starts with <pad>, <unk>');
    this.index = new Map(words.map((w, i) => [w, i]));
  }

  get size(): number {
    return this.words.length;
  }

  /** The id of a token text (lower-cased); {@link UNKNOWN_ID} when absent. */
  idOf(word: string): number {
    if (word === '') return UNKNOWN_ID;
    const id = this.index.get(tokenKey(word));
    return id === undefined || id === PAD_ID ? UNKNOWN_ID : id;
  }

  /** The key of an id; '<unk>' for ids outside the vocabulary. */
  wordOf(id: number): string {
    return this.words[id] ?? UNKNOWN;
  }

  /** Whether the vocabulary holds a token text. */
  has(word: string): boolean {
    return this.idOf(word) !== UNKNOWN_ID;
  }

  /**
   * The ids of the first `maxLength` model tokens of a text, padded with 0 to `maxLength`, written
   * into `out` at `offset` (so a batch is one allocation).
   */
  encodeInto(tokenizer: Tokenizer, text: string, maxLength: number, out: Int32Array | Float32Array, offset = 0): void {
    let j = 0;
    for (const t of tokenizer.tokenize(text)) {
      if (j >= maxLength) break;
      if (!isModelToken(t)) continue;
      out[offset + j++] = this.idOf(t.text);
    }
    for (; j < maxLength; j++) out[offset + j] = PAD_ID;
  }

  toJSON(): string[] {
    return [...this.words];
  }
}

/**
 * Builds a vocabulary from texts — pass the training split only, so no test word gets an id.
 *
 * @example
 * ```ts
 * const trainTexts = ['Win cash now', 'Lunch at noon?', 'Win a prize']; // the training split only
 * const vocab = buildVocabulary(trainTexts, defaultTokenizer(), { minCount: 2, maxSize: 20000 });
 * ```
 */
export function buildVocabulary(texts: readonly string[], tokenizer: Tokenizer, opts: VocabularyOptions = {}): Vocabulary {
  const minCount = opts.minCount ?? 2;
  const maxSize = opts.maxSize ?? 20000;
  if (!(Number.isInteger(minCount) && minCount >= 1)) throw new UserError(`minCount must be an integer ≥ 1 (got ${minCount})`);
  if (!(Number.isInteger(maxSize) && maxSize >= 3)) throw new UserError(`maxSize must be an integer ≥ 3 (got ${maxSize})`);
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const t of tokenizer.tokenize(text)) {
      if (!isModelToken(t)) continue;
      const k = tokenKey(t);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
  }
  const kept = [...counts].filter(([w, c]) => c >= minCount && w !== PAD && w !== UNKNOWN);
  kept.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return new Vocabulary([PAD, UNKNOWN, ...kept.slice(0, maxSize - 2).map(([w]) => w)]);
}
