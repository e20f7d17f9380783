import * as tf from '@tensorflow/tfjs-core';
import type { Tokenizer } from '../../text/tokenizer.js';
import { PAD_ID, UNKNOWN_ID, type Vocabulary } from '../../text/vocabulary.js';
import { textThreat } from '../../threat/text-threat.js';
import { wordNet } from '../../text/attack/wordnet.js';

/**
 * Synonym candidates per vocabulary id, computed once over the vocabulary so that a word
 * substitution during training is a tensor op on token ids. Row `id` of `candidates` holds up to
 * `k` ids of that word's WordNet synonyms (most shared synsets first), 0 where there are fewer.
 * A synonym outside the vocabulary is the unknown id 1 — what the model reads when an attacker
 * writes it — listed once. Only editable words get candidates: a word that is not a stop word
 * (never a URL, an e-mail address, a number or punctuation), the text threat's rule.
 *
 * @example
 * ```ts
 * const table = buildSynonymTable(vocabulary, defaultTokenizer(), { k: 20 });
 * table.candidatesOf(vocabulary.idOf('cheap')); // ids of 'inexpensive', 'brassy', … in the vocabulary
 * ```
 */
export interface SynonymTable {
  /** Vocabulary size V. */
  readonly size: number;
  /** Candidates per id. */
  readonly k: number;
  /** `[V × k]` synonym ids, 0 = none. */
  readonly candidates: Int32Array;
  /** 1 where the id's word may be replaced (a word, not a stop word). */
  readonly editable: Uint8Array;
  /** 1 where the id counts as a word for the budget (kind `word`, stop words and the unknown id included). */
  readonly isWord: Uint8Array;
  /** The candidate ids of one id (zeros dropped). */
  candidatesOf(id: number): number[];
}

/**
 * Options of {@link buildSynonymTable}.
 *
 * @example
 * ```ts
 * const o: SynonymTableOptions = { k: 20, stopWords: new Set(['the', 'a']) };
 * ```
 */
export interface SynonymTableOptions {
  /** Candidates kept per word (A2T: 20). Default 20. */
  k?: number;
  /** Words never replaced; default the text threat's English stop words. */
  stopWords?: ReadonlySet<string>;
  /** Synonyms of a lower-case word; default WordNet's. */
  synonyms?: (word: string) => readonly string[];
}

/**
 * 1 for each vocabulary id that counts as a word for the text threat's budget: an entry the
 * tokenizer reads as one token of kind `word` (stop words included), and the unknown id; 0 for
 * padding, URLs, e-mail addresses, numbers and punctuation.
 *
 * @example
 * ```ts
 * const isWord = wordIds(vocabulary, defaultTokenizer());
 * isWord[vocabulary.idOf('http://x.com')]; // 0
 * ```
 */
export function wordIds(vocab: Vocabulary, tokenizer: Tokenizer): Uint8Array {
  const isWord = new Uint8Array(vocab.size);
  if (vocab.size > UNKNOWN_ID) isWord[UNKNOWN_ID] = 1;
  for (let id = 2; id < vocab.size; id++) {
    const tokens = tokenizer.tokenize(vocab.wordOf(id));
    if (tokens.length === 1 && tokens[0]!.kind === 'word') isWord[id] = 1;
  }
  return isWord;
}

/**
 * Builds the {@link SynonymTable} of a vocabulary (once per training run: about a second for
 * 20,000 words).
 *
 * @example
 * ```ts
 * const table = buildSynonymTable(vocabulary, defaultTokenizer());
 * ```
 */
export function buildSynonymTable(vocab: Vocabulary, tokenizer: Tokenizer, opts: SynonymTableOptions = {}): SynonymTable {
  const k = opts.k ?? 20;
  if (!(Number.isInteger(k) && k >= 1)) throw new Error(`synonym candidates per word must be a positive integer (got ${k})`);
  const threat = textThreat(tokenizer, opts.stopWords ? { stopWords: opts.stopWords } : {});
  const synonyms = opts.synonyms ?? ((w: string) => wordNet().synonyms(w));
  const V = vocab.size;
  const candidates = new Int32Array(V * k);
  const editable = new Uint8Array(V);
  const isWord = wordIds(vocab, tokenizer);
  for (let id = 2; id < V; id++) {
    if (!isWord[id]) continue;
    const key = vocab.wordOf(id);
    const tokens = tokenizer.tokenize(key);
    if (!threat.editable(tokens[0]!)) continue;
    editable[id] = 1;
    let n = 0;
    const seen = new Set<number>([id, PAD_ID]);
    for (const s of synonyms(key)) {
      if (n >= k) break;
      const sTokens = tokenizer.tokenize(s);
      if (sTokens.length !== 1 || sTokens[0]!.kind !== 'word') continue; // one word for one word
      const sid = vocab.idOf(s);
      if (seen.has(sid)) continue;
      seen.add(sid);
      candidates[id * k + n++] = sid;
    }
  }
  return {
    size: V,
    k,
    candidates,
    editable,
    isWord,
    candidatesOf: (id) => Array.from(candidates.subarray(id * k, (id + 1) * k)).filter((c) => c !== 0),
  };
}

/**
 * The table as tensors (kept until {@link SynonymTensors.dispose}): what the batched
 * substitution gathers from.
 */
export interface SynonymTensors {
  readonly k: number;
  /** `[V, k]` int32. */
  readonly candidates: tf.Tensor2D;
  /** `[V]` float32, 1 where editable and with at least one candidate. */
  readonly editable: tf.Tensor1D;
  /** `[V]` float32, 1 for words. */
  readonly isWord: tf.Tensor1D;
  dispose(): void;
}

/**
 * Uploads a {@link SynonymTable}; `rows` pads it to the model's embedding rows (ids past the
 * vocabulary have no candidates).
 *
 * @example
 * ```ts
 * const t = synonymTensors(buildSynonymTable(vocabulary, defaultTokenizer()));
 * t.dispose();
 * ```
 */
export function synonymTensors(table: SynonymTable, rows = table.size): SynonymTensors {
  const V = Math.max(rows, table.size);
  const cand = new Int32Array(V * table.k);
  cand.set(table.candidates);
  const editable = new Float32Array(V);
  const isWord = new Float32Array(V);
  for (let id = 0; id < table.size; id++) {
    editable[id] = table.editable[id] && table.candidates[id * table.k] !== 0 ? 1 : 0;
    isWord[id] = table.isWord[id]!;
  }
  const t = {
    k: table.k,
    candidates: tf.keep(tf.tensor2d(cand, [V, table.k], 'int32')),
    editable: tf.keep(tf.tensor1d(editable)),
    isWord: tf.keep(tf.tensor1d(isWord)),
    dispose: () => tf.dispose([t.candidates, t.editable, t.isWord]),
  };
  return t;
}
