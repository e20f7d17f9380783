import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../../errors.js';
import type { TextPreprocessing } from '../../text/text-classifier.js';
import type { TrainingStrategy } from '../strategy.js';
import { buildSynonymTable, synonymTensors, type SynonymTable, type SynonymTensors } from '../text/synonym-table.js';
import { synonymSubstitution } from '../text/synonym-substitution.js';
import { textView } from '../text/text-view.js';
import { adversarialRows } from './mixed.js';
import { softmaxCrossEntropy } from '../../engine/cross-entropy.js';
import { goodWordAugmentation } from '../text/good-word-augmentation.js';

/**
 * Settings of {@link a2t}; unset values take the published defaults.
 *
 * @example
 * ```ts
 * const o: A2tOptions = { advRatio: 0.2, maxShare: 0.1, candidates: 20, steps: 3, cleanEpochs: 1 };
 * ```
 */
export interface A2tOptions {
  /** Share of each batch also trained on as adversarial texts (A2T attacks 20% of the training set per epoch). Default 0.2. */
  advRatio?: number;
  /** Largest share of a text's words replaced. Default 0.1 (A2T's max modification rate, the attacks' default threat). */
  maxShare?: number;
  /** Words each text may change whatever its length (A2T: 4). Default 0: the attacks' budget exactly. */
  minChanges?: number;
  /** Synonym candidates per word (A2T: 20). Default 20. */
  candidates?: number;
  /** Gradient rounds of the substitution. Default 3. */
  steps?: number;
  /** Epochs of clean training before the adversarial texts start (TextAttack's num_clean_epochs). Default 1. */
  cleanEpochs?: number;
  /**
   * Good words inserted per text (Lowd & Meek's attack on spam filters, which A2T's substitutions
   * do not cover): the attacked texts are also trained on with up to this many good words at
   * their front, within the word budget. 0: the published A2T, substitutions only. Default 0.
   */
  goodWords?: number;
  /** How many of the best good words each text draws its insertions from. Default 40 (the goodword attack's list). */
  goodWordKeep?: number;
  /** Vocabulary entries probed for good words, from the most frequent. Default 5000 (the goodword attack's probe). */
  goodWordVocabulary?: number;
  /** A synonym table to use instead of WordNet's over the vocabulary (tests, other languages). */
  table?: SynonymTable;
}

/**
 * A2T (Yoo & Qi 2021, "Towards Improving Adversarial Training of NLP Models"): vanilla
 * adversarial training with a cheap attack. After `cleanEpochs` clean epochs, each batch's
 * first ⌈advRatio · b⌉ texts are attacked at the current weights by a gradient-ranked synonym
 * substitution ({@link synonymSubstitution}: word importance from the embedding gradient,
 * WordNet synonyms ranked by first-order gain, at most `maxShare` of the words, stop words,
 * URLs, e-mail addresses and numbers untouched) and appended to the batch, so the model trains
 * on the clean batch plus its adversarial texts (TextAttack's Trainer, α = 1). The adversarial
 * texts are regenerated every batch rather than once per epoch: the attack costs `steps`
 * gradients of the attacked rows, so it can follow the weights. The synonym table over the
 * vocabulary is built once, on the first batch.
 *
 * With `goodWords` > 0 the same texts are also trained on with good words inserted at their
 * front ({@link goodWordAugmentation}: drawn from the `goodWordKeep` words the model, alone,
 * takes most as evidence against each text's label, probed again at the start of every
 * adversarial epoch and checkpointed).
 *
 * @example
 * ```ts
 * const s = a2t(preprocessing, { advRatio: 0.2, maxShare: 0.1 });
 * await train(textClf.ids, trainIds, testIds, { epochs: 3, batchSize: 64, optimizer: 'adam', schedule: { kind: 'constant', lr: 4e-3 }, seed: 0, strategy: s });
 * ```
 */
export function a2t(pre: TextPreprocessing, o: A2tOptions = {}): TrainingStrategy {
  const ratio = o.advRatio ?? 0.2;
  const maxShare = o.maxShare ?? 0.1;
  const minChanges = o.minChanges ?? 0;
  const k = o.candidates ?? 20;
  const steps = o.steps ?? 3;
  const cleanEpochs = o.cleanEpochs ?? 1;
  if (!(ratio > 0 && ratio <= 1)) throw new UserError(`a2t: --adv-ratio must be in (0, 1] (got ${ratio})`);
  if (!(maxShare > 0 && maxShare <= 1)) throw new UserError(`a2t: the share of words changed must be in (0, 1] (got ${maxShare}); e.g. --threat words:0.1`);
  if (!(Number.isInteger(minChanges) && minChanges >= 0)) throw new UserError(`a2t: minChanges must be an integer ≥ 0 (got ${minChanges})`);
  if (!(Number.isInteger(k) && k >= 1)) throw new UserError(`a2t: synonym candidates must be a positive integer (got ${k})`);
  if (!(Number.isInteger(steps) && steps >= 1)) throw new UserError(`a2t: --attack-steps must be a positive integer (got ${steps})`);
  if (!(cleanEpochs >= 0)) throw new UserError(`a2t: clean epochs must be ≥ 0 (got ${cleanEpochs})`);
  const good = goodWordAugmentation('a2t', pre, { goodWords: o.goodWords ?? 0, maxShare, keep: o.goodWordKeep, vocabulary: o.goodWordVocabulary });
  let table = o.table;
  let tensors: SynonymTensors | undefined;
  const synonyms = (rows: number): SynonymTensors => {
    table ??= buildSynonymTable(pre.vocabulary, pre.tokenizer, { k });
    tensors ??= synonymTensors(table, rows);
    return tensors;
  };
  const adversarial = (epoch: number) => epoch >= cleanEpochs;
  return {
    name: 'a2t',
    params: { advRatio: ratio, maxShare, minChanges, candidates: k, steps, cleanEpochs, ...good.params },
    prepare(clf, ctx) {
      if (!adversarial(ctx.epoch)) return undefined;
      const m = Math.max(1, adversarialRows(ctx.xs.shape[0]!, ratio));
      const view = textView(clf, pre);
      const t = synonyms(view.embeddingMatrix().shape[0]);
      const subst = tf.tidy(() => {
        const ids = tf.cast(tf.slice(ctx.xs, 0, m), 'int32') as tf.Tensor2D;
        const adv = synonymSubstitution(view, t, ids, tf.slice(ctx.ys, 0, m), { maxShare, minChanges, steps });
        return tf.cast(adv, ctx.xs.dtype);
      });
      if (!good.enabled) return subst;
      const inserted = good.rows(view, ctx, m);
      const both = tf.concat([subst, inserted], 0);
      tf.dispose([subst, inserted]);
      return both;
    },
    loss(clf, ctx, adv) {
      const b = ctx.xs.shape[0]!;
      if (!adv) {
        const logits = clf.trainingLogits(ctx.xs);
        return { loss: softmaxCrossEntropy(logits, ctx.ys, 'mean'), clean: { logits } };
      }
      // The adversarial rows are copies of the batch's first m rows, once per kind of attack.
      const m = adv.shape[0]!;
      const kinds = good.enabled ? 2 : 1;
      const logits = clf.trainingLogits(tf.concat([ctx.xs, adv], 0));
      const ys = tf.concat([ctx.ys, tf.tile(tf.slice(ctx.ys, 0, m / kinds), [kinds, 1])], 0);
      return {
        loss: softmaxCrossEntropy(logits, ys, 'mean'),
        clean: { logits: tf.slice(logits, 0, b) as tf.Tensor2D },
        // The substitution rows' metrics (the inserted copies follow them unreported), as in the published A2T.
        adv: { logits: tf.slice(logits, b, m / kinds) as tf.Tensor2D, from: 0 },
      };
    },
    saveState() {
      const json = good.saveState();
      return json ? { json } : {};
    },
    loadState(state) {
      good.loadState(state.json);
    },
    dispose() {
      tensors?.dispose();
      tensors = undefined;
    },
  };
}
