import * as tf from '@tensorflow/tfjs-core';
import { ENGLISH_STOP_WORDS } from '../stop-words.js';
import type { TextClassifier } from '../text-classifier.js';
import { readBack } from '../../engine/read-back.js';

/**
 * The settings of {@link probeGoodWords}.
 *
 * @example
 * ```ts
 * const opts: GoodWordOptions = { vocabulary: 5000, keep: 40 };
 * ```
 */
export interface GoodWordOptions {
  /** How many vocabulary entries to probe, from the first (default 5000). */
  vocabulary?: number;
  /** How many good words to keep (default 40). */
  keep?: number;
}

/** The good words of one model and goal, and the queries their probe cost. */
export interface GoodWords {
  words: string[];
  queries: number;
}

/**
 * What a model makes of each candidate word alone: the words (vocabulary entries of three or more
 * letters that are not stop words, the first `vocabulary` of them) and the model's class
 * probabilities for each, `[words.length × numClasses]` row-major.
 */
export interface WordProbe {
  words: string[];
  /** The words' vocabulary ids. */
  ids: number[];
  probs: Float32Array;
  numClasses: number;
}

/**
 * Classifies every candidate good word on its own, in batches of 512 — at the model's current
 * weights, uncached (adversarial training re-probes as the weights move).
 *
 * @example
 * ```ts
 * const probe = probeWords(textClf, 5000);
 * const hamWords = rankGoodWords(probe, 1).slice(0, 40); // indices into probe.words
 * ```
 */
export function probeWords(clf: TextClassifier, vocabulary = 5000): WordProbe {
  const size = tf.tidy(() => clf.embeddingMatrix().shape[0]);
  const words: string[] = [];
  const ids: number[] = [];
  for (let id = 2; id < size && words.length < vocabulary; id++) {
    const w = clf.wordOf(id);
    if (/^\p{L}{3,}$/u.test(w) && !ENGLISH_STOP_WORDS.has(w)) {
      words.push(w);
      ids.push(id);
    }
  }
  const k = clf.numClasses;
  const probs = new Float32Array(words.length * k);
  for (let s = 0; s < words.length; s += 512) {
    const chunk = words.slice(s, s + 512);
    probs.set(readBack(() => tf.softmax(clf.logitsOfTexts(chunk))) as Float32Array, s * k);
  }
  return { words, ids, probs, numClasses: k };
}

/**
 * Indices of a probe's words, best good word first: most unlike class `label` on its own (or,
 * with `target`, most like `target`).
 *
 * @example
 * ```ts
 * const best = rankGoodWords(probeWords(textClf), 1)[0]; // the word that alone looks least like spam
 * ```
 */
export function rankGoodWords(probe: WordProbe, label: number, target?: number): number[] {
  const k = probe.numClasses;
  const score = (j: number) => (target === undefined ? 1 - probe.probs[j * k + label]! : probe.probs[j * k + target]!);
  return probe.words.map((_, j) => j).sort((a, b) => score(b) - score(a) || a - b);
}

const cache = new WeakMap<object, Map<string, GoodWords>>();

/**
 * Lowd & Meek's good words for a model: the vocabulary words that, alone, the model finds most
 * unlike class `label` (or most like `target`) — one batched pass over the first `vocabulary`
 * entries, done once per model and goal and cached. Its queries are a one-time cost of the run.
 *
 * @example
 * ```ts
 * const { words } = probeGoodWords(clf, 1); // words that pull a message away from 'spam'
 * ```
 */
export function probeGoodWords(clf: TextClassifier, label: number, target?: number, opts: GoodWordOptions = {}): GoodWords {
  const vocab = opts.vocabulary ?? 5000;
  const keep = opts.keep ?? 40;
  const key = `${label}/${target ?? ''}/${vocab}/${keep}`;
  let perModel = cache.get(clf);
  if (!perModel) cache.set(clf, (perModel = new Map()));
  const hit = perModel.get(key);
  if (hit) return hit;
  const probe = probeWords(clf, vocab);
  const out = { words: rankGoodWords(probe, label, target).slice(0, keep).map((j) => probe.words[j]!), queries: probe.words.length };
  perModel.set(key, out);
  return out;
}
