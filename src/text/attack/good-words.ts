import * as tf from '@tensorflow/tfjs-core';
import { ENGLISH_STOP_WORDS } from '../stop-words.js';
import type { TextClassifier } from '../text-classifier.js';

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
  const size = tf.tidy(() => clf.embeddingMatrix().shape[0]);
  const words: string[] = [];
  for (let id = 2; id < size && words.length < vocab; id++) {
    const w = clf.wordOf(id);
    if (/^\p{L}{3,}$/u.test(w) && !ENGLISH_STOP_WORDS.has(w)) words.push(w);
  }
  const k = clf.numClasses;
  const scores = new Float32Array(words.length);
  for (let s = 0; s < words.length; s += 512) {
    const chunk = words.slice(s, s + 512);
    const p = tf.tidy(() => tf.softmax(clf.logitsOfTexts(chunk)).dataSync() as Float32Array);
    chunk.forEach((_, r) => (scores[s + r] = target === undefined ? 1 - p[r * k + label]! : p[r * k + target]!));
  }
  const order = words.map((w, j) => ({ w, s: scores[j]! })).sort((a, b) => b.s - a.s);
  const out = { words: order.slice(0, keep).map((o) => o.w), queries: words.length };
  perModel.set(key, out);
  return out;
}
