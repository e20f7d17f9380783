import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../../errors.js';
import { deriveSeed } from '../../data/rng.js';
import { probeWords, rankGoodWords } from '../../text/attack/good-words.js';
import type { LayersTextClassifier, TextPreprocessing } from '../../text/text-classifier.js';
import type { BatchContext } from '../strategy.js';
import { insertGoodWords } from './good-word-insertion.js';
import { wordIds } from './synonym-table.js';
import { readBack } from '../../engine/read-back.js';

/**
 * Settings of {@link goodWordAugmentation}.
 *
 * @example
 * ```ts
 * const o: GoodWordAugmentationOptions = { goodWords: 10, maxShare: 0.1 };
 * ```
 */
export interface GoodWordAugmentationOptions {
  /** Good words inserted per text; 0 turns the augmentation off. */
  goodWords: number;
  /** The word budget: at most ⌊maxShare · words⌋ insertions per text. */
  maxShare: number;
  /** How many of the best good words each text draws its insertions from. Default 40 (the goodword attack's list). */
  keep?: number;
  /** Vocabulary entries probed for good words, from the most frequent. Default 5000 (the goodword attack's probe). */
  vocabulary?: number;
}

/**
 * Good-word insertion as a training augmentation, shared by the text training methods: what
 * they add so that their threat covers Lowd & Meek's attack on spam filters.
 */
export interface GoodWordAugmentation {
  /** Whether any words are inserted (goodWords > 0). */
  readonly enabled: boolean;
  /** The settings for the run's config; empty when off, so a run without it keeps its config. */
  readonly params: Readonly<Record<string, unknown>>;
  /**
   * Copies of the batch's first `m` rows with good words in front, in `ctx.xs`'s dtype
   * (the caller disposes them). The lists are probed at the first call of each epoch.
   */
  rows(view: LayersTextClassifier, ctx: BatchContext, m: number): tf.Tensor;
  /** The lists of the current epoch, for the strategy's checkpoint (undefined before the first probe). */
  saveState(): Record<string, unknown> | undefined;
  /** Restores what {@link GoodWordAugmentation.saveState} gave. */
  loadState(json: Record<string, unknown> | undefined): void;
}

/**
 * Builds the good-word augmentation of a text training method named `method` (its name prefixes
 * the errors and seeds the draws): each augmented row gets up to `goodWords` words, within the
 * word budget, drawn from the `keep` words the model alone takes most as evidence against the
 * row's label ({@link insertGoodWords}). The words are probed again at the start of every epoch
 * in which rows are asked for, at the weights of that moment (one batched pass over `vocabulary`
 * single-word texts), so they follow the model as the goodword attack would; the lists belong to
 * the strategy's checkpointed state, so a run resumed mid-epoch draws from the same words.
 *
 * @example
 * ```ts
 * const aug = goodWordAugmentation('a2t', preprocessing, { goodWords: 10, maxShare: 0.1 });
 * const inserted = aug.rows(textView(clf, preprocessing), ctx, 13); // [13, L]
 * ```
 */
export function goodWordAugmentation(method: string, pre: TextPreprocessing, o: GoodWordAugmentationOptions): GoodWordAugmentation {
  const goodWords = o.goodWords;
  const keep = o.keep ?? 40;
  const probeSize = o.vocabulary ?? 5000;
  if (!(Number.isInteger(goodWords) && goodWords >= 0)) throw new UserError(`${method}: --good-words must be an integer ≥ 0 (got ${goodWords}); 0 inserts none`);
  if (!(Number.isInteger(keep) && keep >= 1)) throw new UserError(`${method}: good words kept must be a positive integer (got ${keep})`);
  if (!(Number.isInteger(probeSize) && probeSize >= 1)) throw new UserError(`${method}: good words probed must be a positive integer (got ${probeSize})`);
  let isWord: Uint8Array | undefined;
  let good: { epoch: number; byLabel: number[][] } | undefined;
  const lists = (view: LayersTextClassifier, epoch: number): number[][] => {
    const e = Math.floor(epoch + 1e-9);
    if (good?.epoch !== e) {
      const probe = probeWords(view, probeSize);
      const byLabel = Array.from({ length: view.numClasses }, (_, y) => rankGoodWords(probe, y).slice(0, keep).map((j) => probe.ids[j]!));
      good = { epoch: e, byLabel };
    }
    return good.byLabel;
  };
  return {
    enabled: goodWords > 0,
    params: goodWords > 0 ? { goodWords, goodWordKeep: keep, goodWordVocabulary: probeSize } : {},
    rows(view, ctx, m) {
      isWord ??= wordIds(pre.vocabulary, pre.tokenizer);
      const byLabel = lists(view, ctx.epoch);
      const L = ctx.xs.shape[1]!;
      const ids = readBack(() => tf.slice(ctx.xs, 0, m));
      const labels = readBack(() => tf.slice(ctx.labels, 0, m));
      const inserted = insertGoodWords(ids, labels, L, isWord, (y) => byLabel[y]!, { maxWords: goodWords, maxShare: o.maxShare, seed: deriveSeed(ctx.seed, `${method}-good-words`) });
      return tf.tidy(() => tf.cast(tf.tensor2d(inserted, [m, L]), ctx.xs.dtype));
    },
    saveState: () => (good ? { goodWords: good } : undefined),
    loadState(json) {
      const saved = json?.goodWords as typeof good;
      if (saved) good = { epoch: saved.epoch, byLabel: saved.byLabel.map((l) => [...l]) };
    },
  };
}
