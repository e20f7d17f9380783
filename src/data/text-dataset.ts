import type { Dataset } from './dataset.js';
import type { Domain } from './domain.js';
import { shuffledIndices } from './batching.js';
import { deriveSeed, Rng } from './rng.js';
import type { Tokenizer } from '../text/tokenizer.js';
import type { Vocabulary } from '../text/vocabulary.js';

/**
 * Labelled raw texts: what text attacks read and what a vocabulary is built from.
 *
 * @example
 * ```ts
 * const ds: TextDataset = { name: 'toy', texts: ['win cash now', 'lunch at noon?'], y: Int32Array.from([1, 0]), n: 2, numClasses: 2, classNames: ['ham', 'spam'] };
 * console.log(ds.texts[ds.y.indexOf(1)]); // 'win cash now'
 * ```
 */
export interface TextDataset {
  /** e.g. 'spam/train'. */
  name: string;
  texts: string[];
  /** Class indices in [0, numClasses). */
  y: Int32Array;
  n: number;
  numClasses: number;
  classNames: string[];
}

/**
 * The train/test pair of a text loader.
 *
 * @example
 * ```ts
 * const ds: TextDataset = { name: 'toy', texts: ['win cash now', 'lunch at noon?'], y: Int32Array.from([1, 0]), n: 2, numClasses: 2, classNames: ['ham', 'spam'] };
 * const splits: TextSplits = { train: ds, test: ds };
 * ```
 */
export interface TextSplits {
  train: TextDataset;
  test: TextDataset;
}

/**
 * The tokenizer, vocabulary and length that turn texts into token ids (a {@link TextClassifier}
 * carries all three).
 */
export interface TextEncoding {
  readonly tokenizer: Tokenizer;
  readonly vocabulary: Vocabulary;
  readonly maxLength: number;
}

/**
 * The token ids of a text data set as the id {@link Dataset} the trainer and evaluators read:
 * shape [maxLength], ids stored as floats (exact up to 2^24), padding 0, unknown 1.
 *
 * @example
 * ```ts
 * const texts: TextDataset = { name: 'toy', texts: ['win cash now', 'lunch at noon?'], y: Int32Array.from([1, 0]), n: 2, numClasses: 2, classNames: ['ham', 'spam'] };
 * const textClf = await loadTextClassifier('runs/text-cnn');
 * const ids = textToIdsDataset(texts, textClf); // token ids, shape [maxLength]
 * await train(textClf.ids, ids, undefined, config);
 * ```
 */
export function textToIdsDataset(ds: TextDataset, enc: TextEncoding): Dataset {
  const x = new Float32Array(ds.n * enc.maxLength);
  for (let i = 0; i < ds.n; i++) enc.vocabulary.encodeInto(enc.tokenizer, ds.texts[i]!, enc.maxLength, x, i * enc.maxLength);
  return {
    name: ds.name,
    x,
    y: ds.y,
    n: ds.n,
    shape: [enc.maxLength],
    numClasses: ds.numClasses,
    classNames: ds.classNames,
    domain: tokenIdDomain(enc.vocabulary.size, enc.maxLength),
  };
}

/**
 * The examples at `indices`, in that order.
 *
 * @example
 * ```ts
 * const firstTen = takeTexts(test, Array.from({ length: 10 }, (_, i) => i));
 * ```
 */
export function takeTexts(ds: TextDataset, indices: ArrayLike<number>, name: string = ds.name): TextDataset {
  const texts: string[] = [];
  const y = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    texts.push(ds.texts[indices[i]!]!);
    y[i] = ds.y[indices[i]!]!;
  }
  return { name, texts, y, n: texts.length, numClasses: ds.numClasses, classNames: ds.classNames };
}

/**
 * Checks that a text data set's arrays agree; throws naming the first inconsistency.
 */
export function checkTextDataset(ds: TextDataset): void {
  if (ds.texts.length !== ds.n || ds.y.length !== ds.n) throw new Error(`${ds.name}: ${ds.texts.length} texts, ${ds.y.length} labels, n = ${ds.n}`);
  for (let i = 0; i < ds.n; i++) {
    const c = ds.y[i]!;
    if (!(c >= 0 && c < ds.numClasses)) throw new Error(`${ds.name}: label ${c} of example ${i} is outside [0, ${ds.numClasses})`);
  }
}

/**
 * The domain of token-id inputs: integers in [0, vocabSize − 1] at every position.
 *
 * @example
 * ```ts
 * const d = tokenIdDomain(20000, 200); // { lower: 0, upper: 19999, integers: [...] }
 * ```
 */
export function tokenIdDomain(vocabSize: number, maxLength: number): Domain {
  return { lower: 0, upper: vocabSize - 1, integers: Array.from({ length: maxLength }, (_, index) => ({ index, step: 1 })) };
}


/** Labelled texts before they are split: each with the group it came from (for reports and splits). */
export interface LabelledText {
  text: string;
  label: number;
  /** Where it came from, e.g. 'spam-2/01234.json' or 'corpus.csv line 12'. */
  source: string;
}

/** What {@link dedupeTexts} removed. */
export interface DedupeReport {
  /** Later copies of a text already seen with the same label. */
  duplicates: number;
  /** Texts seen with different labels: every copy is dropped. */
  conflicting: number;
}

/** The key two texts are the same under: white space collapsed, case kept. */
function dedupeKey(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/**
 * Keeps the first copy of each text (white space runs count as one space) and drops texts that
 * occur with different labels altogether. Run it before splitting, so no text is in both splits.
 *
 * @example
 * ```ts
 * const { kept, report } = dedupeTexts([{ text: 'a  b', label: 0, source: '1' }, { text: 'a b', label: 0, source: '2' }]);
 * // kept: the first only; report.duplicates 1
 * ```
 */
export function dedupeTexts(items: readonly LabelledText[], key: (t: LabelledText) => string = (t) => dedupeKey(t.text)): { kept: LabelledText[]; report: DedupeReport } {
  const labels = new Map<string, number>();
  const conflicted = new Set<string>();
  for (const it of items) {
    const k = key(it);
    const seen = labels.get(k);
    if (seen === undefined) labels.set(k, it.label);
    else if (seen !== it.label) conflicted.add(k);
  }
  const emitted = new Set<string>();
  const kept: LabelledText[] = [];
  let duplicates = 0;
  let conflicting = 0;
  for (const it of items) {
    const k = key(it);
    if (conflicted.has(k)) {
      conflicting++;
      continue;
    }
    if (emitted.has(k)) {
      duplicates++;
      continue;
    }
    emitted.add(k);
    kept.push(it);
  }
  return { kept, report: { duplicates, conflicting } };
}

/**
 * A text data set from labelled texts, in their order.
 *
 * @example
 * ```ts
 * const ds = toTextDataset('toy/train', [{ text: 'hi', label: 0, source: 'a' }], ['ham', 'spam']);
 * ```
 */
export function toTextDataset(name: string, items: readonly LabelledText[], classNames: string[]): TextDataset {
  return {
    name,
    texts: items.map((t) => t.text),
    y: Int32Array.from(items, (t) => t.label),
    n: items.length,
    numClasses: classNames.length,
    classNames,
  };
}

/**
 * Splits labelled texts into train and test, stratified: in every class a seeded shuffle puts
 * round(testFraction · count) texts in test. Within each split the original order is kept, so
 * the split depends only on the seed and the texts.
 *
 * @example
 * ```ts
 * const { train, test } = stratifiedTextSplit(items, 0.2, 0);
 * ```
 */
export function stratifiedTextSplit(items: readonly LabelledText[], testFraction: number, seed: number): { train: LabelledText[]; test: LabelledText[] } {
  const byClass = new Map<number, number[]>();
  items.forEach((it, i) => {
    const list = byClass.get(it.label) ?? [];
    list.push(i);
    byClass.set(it.label, list);
  });
  const inTest = new Uint8Array(items.length);
  for (const [label, idx] of [...byClass].sort((a, b) => a[0] - b[0])) {
    const order = shuffledIndices(idx.length, new Rng(deriveSeed(seed, 'text-split', label)));
    const k = Math.round(testFraction * idx.length);
    for (let j = 0; j < k; j++) inTest[idx[order[j]!]!] = 1;
  }
  return { train: items.filter((_, i) => !inTest[i]), test: items.filter((_, i) => inTest[i]) };
}
