import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers the gradients of the core ops
import { UserError } from '../../errors.js';
import type { TextPreprocessing } from '../../text/text-classifier.js';
import { PAD_ID } from '../../text/vocabulary.js';
import type { BatchContext, TrainingStrategy } from '../strategy.js';
import type { EmbeddingSplit } from '../text/synonym-substitution.js';
import { textView } from '../text/text-view.js';
import { softmaxCrossEntropy } from '../../engine/cross-entropy.js';
import { goodWordAugmentation } from '../text/good-word-augmentation.js';
import { adversarialRows } from './mixed.js';

/**
 * Settings of {@link embeddingPgd}.
 *
 * @example
 * ```ts
 * const o: EmbeddingPgdOptions = { steps: 3, stepFactor: 0.5, salient: 0.1 };
 * ```
 */
export interface EmbeddingPgdOptions {
  /** Ascent steps K (FreeLB: 2–3). Default 3. */
  steps?: number;
  /** Step length as a multiple of ε. Default 2.5 / steps (Madry et al.'s rule). */
  stepFactor?: number;
  /** Perturb only this share of each text's tokens, those with the largest loss-gradient norm; absent: every token (FreeLB). */
  salient?: number;
  /** Weight of the clean loss in the training loss (the rest on the perturbed embeddings). Default 0.5. */
  cleanWeight?: number;
  /**
   * Good words inserted per text (Lowd & Meek's attack, outside any embedding ball): a share
   * `advRatio` of each batch is appended again with up to this many good words at its front,
   * within the word budget `maxShare`, before the perturbation. 0: FreeLB as published. Default 0.
   */
  goodWords?: number;
  /** Share of each batch appended with good words. Default 0.2 (a2t's share of attacked texts). */
  advRatio?: number;
  /** Word budget of the good-word insertion. Default 0.1 (the text attacks' default threat). */
  maxShare?: number;
  /** How many of the best good words each text draws from. Default 40. */
  goodWordKeep?: number;
  /** Vocabulary entries probed for good words. Default 5000. */
  goodWordVocabulary?: number;
}

/** Per-token projection of δ `[b, L, d]` onto the ε-ball of `norm` (l2: each token's vector; linf: each coordinate). */
export function projectTokens(delta: tf.Tensor3D, norm: 'l2' | 'linf', eps: number): tf.Tensor3D {
  return tf.tidy(() => {
    if (norm === 'linf') return tf.clipByValue(delta, -eps, eps);
    const n = tf.norm(delta, 'euclidean', 2, true);
    return tf.mul(delta, tf.minimum(1, tf.div(eps, tf.maximum(n, 1e-12)))) as tf.Tensor3D;
  });
}

/** The embedded tokens `[b, L, d]` of an id batch, and the ids as int32. */
function embedded(model: EmbeddingSplit, xs: tf.Tensor): { e: tf.Tensor3D; ids: tf.Tensor2D } {
  const ids = tf.cast(xs, 'int32') as tf.Tensor2D;
  return { e: tf.gather(model.embeddingMatrix(), ids) as unknown as tf.Tensor3D, ids };
}

/**
 * The positions a perturbation may touch, `[b, L, 1]` float: every token that is not padding,
 * or with `salient` the ⌈salient · tokens⌉ of them with the largest gradient norm.
 */
function movable(model: EmbeddingSplit, e: tf.Tensor3D, ids: tf.Tensor2D, ys: tf.Tensor2D, salient?: number): tf.Tensor3D {
  const tokens = tf.cast(tf.notEqual(ids, PAD_ID), 'float32'); // [b, L]
  if (salient === undefined) return tf.expandDims(tokens, 2) as tf.Tensor3D;
  const [b, L] = ids.shape;
  const g = tf.grad((x: tf.Tensor) => softmaxCrossEntropy(model.logitsFromEmbeddings(x as tf.Tensor3D), ys, 'mean'))(e);
  const score = tf.where(tf.greater(tokens, 0), tf.norm(g, 'euclidean', 2), tf.fill([b, L], -1));
  const kMax = Math.max(1, Math.min(L, Math.ceil(salient * L)));
  const top = tf.topk(score, kMax);
  const count = tf.ceil(tf.mul(tf.sum(tokens, 1), salient)); // [b]
  const take = tf.logicalAnd(tf.less(tf.reshape(tf.range(0, kMax, 1, 'float32'), [1, kMax]), tf.expandDims(count, 1)), tf.greaterEqual(top.values, 0));
  const sel = tf.sum(tf.mul(tf.oneHot(top.indices, L), tf.expandDims(tf.cast(take, 'float32'), 2)), 1);
  return tf.expandDims(tf.cast(tf.greater(sel, 0), 'float32'), 2) as tf.Tensor3D;
}

/**
 * PGD in embedding space (Miyato et al. 2017; FreeLB, Zhu et al. 2020): the embedded tokens of
 * each text are perturbed within a per-token ε-ball of the threat's norm (`l2:ε`: each token's
 * vector moves at most ε; `linf:ε`: each coordinate), from a random start, by K ascent steps on
 * the cross-entropy through the layers after the embedding; padding never moves, and with
 * `salient` only the most salient share of the tokens does (the embedding-space analogue of a
 * word budget). The model trains on `cleanWeight` · clean loss + (1 − cleanWeight) · loss on the
 * perturbed embeddings; the embedding matrix gets the gradients of both. ε follows the
 * trainer's warm-up. The crafting runs in `prepare`, outside the weight tape.
 *
 * With `goodWords` > 0 the batch's first ⌈advRatio · b⌉ texts are appended again with good
 * words inserted at their front ({@link goodWordAugmentation}, as a2t does), and the whole
 * enlarged batch is trained on, clean and perturbed: good-word insertion adds tokens, which no
 * ball around the embeddings of the existing ones contains.
 *
 * @example
 * ```ts
 * const s = embeddingPgd(preprocessing, { steps: 3 });
 * await train(textClf.ids, trainIds, testIds, { epochs: 3, batchSize: 64, optimizer: 'adam', schedule: { kind: 'constant', lr: 4e-3 }, seed: 0, strategy: s, threat: parseThreat('l2:0.5') });
 * ```
 */
export function embeddingPgd(pre: TextPreprocessing, o: EmbeddingPgdOptions = {}): TrainingStrategy {
  const steps = o.steps ?? 3;
  const stepFactor = o.stepFactor ?? 2.5 / steps;
  const cleanWeight = o.cleanWeight ?? 0.5;
  if (!(Number.isInteger(steps) && steps >= 1)) throw new UserError(`embedding-pgd: --attack-steps must be a positive integer (got ${steps})`);
  if (!(stepFactor > 0)) throw new UserError(`embedding-pgd: the step size must be positive (got ${stepFactor}·ε)`);
  if (o.salient !== undefined && !(o.salient > 0 && o.salient <= 1)) throw new UserError(`embedding-pgd: the salient share must be in (0, 1] (got ${o.salient})`);
  if (!(cleanWeight >= 0 && cleanWeight < 1)) throw new UserError(`embedding-pgd: the clean weight must be in [0, 1) (got ${cleanWeight})`);
  const advRatio = o.advRatio ?? 0.2;
  const maxShare = o.maxShare ?? 0.1;
  if (!(advRatio > 0 && advRatio <= 1)) throw new UserError(`embedding-pgd: --adv-ratio must be in (0, 1] (got ${advRatio})`);
  if (!(maxShare > 0 && maxShare <= 1)) throw new UserError(`embedding-pgd: the good words' word budget must be in (0, 1] (got ${maxShare})`);
  const good = goodWordAugmentation('embedding-pgd', pre, { goodWords: o.goodWords ?? 0, maxShare, keep: o.goodWordKeep, vocabulary: o.goodWordVocabulary });
  const ball = (ctx: BatchContext): { norm: 'l2' | 'linf'; eps: number } => {
    const t = ctx.threat;
    if (!t) throw new UserError('embedding-pgd needs a threat in embedding space, e.g. --threat l2:0.5');
    if (t.norm !== 'l2' && t.norm !== 'linf') throw new UserError(`embedding-pgd perturbs embeddings in an l2 or linf ball (got ${t.norm}): use --threat l2:EPS or linf:EPS`);
    return { norm: t.norm, eps: t.eps };
  };
  /** δ `[b, L, d]` for the id batch `xs`: K ascent steps from a random start, inside the ball, on the movable tokens. */
  const craft = (view: EmbeddingSplit, xs: tf.Tensor, ys: tf.Tensor2D, norm: 'l2' | 'linf', eps: number, seed: number): tf.Tensor3D =>
    tf.tidy(() => {
      const { e, ids } = embedded(view, xs);
      const mask = movable(view, e, ids, ys, o.salient);
      if (eps === 0) return tf.zerosLike(e);
      const d = e.shape[2];
      const start = tf.randomUniform(e.shape, -1, 1, 'float32', seed);
      let delta = tf.mul(projectTokens(norm === 'l2' ? tf.mul(start, eps / Math.sqrt(d)) : tf.mul(start, eps), norm, eps), mask) as tf.Tensor3D;
      const lossAt = (x: tf.Tensor) => softmaxCrossEntropy(view.logitsFromEmbeddings(tf.add(e, x) as tf.Tensor3D), ys, 'sum');
      for (let s = 0; s < steps; s++) {
        const g = tf.grad(lossAt)(delta) as tf.Tensor3D;
        const dir = norm === 'linf' ? tf.sign(g) : tf.div(g, tf.maximum(tf.norm(g, 'euclidean', 2, true), 1e-12));
        delta = tf.mul(projectTokens(tf.add(delta, tf.mul(dir, stepFactor * eps)) as tf.Tensor3D, norm, eps), mask) as tf.Tensor3D;
      }
      return delta;
    });
  return {
    name: 'embedding-pgd',
    params: { steps, stepFactor, cleanWeight, ...(o.salient !== undefined ? { salient: o.salient } : {}), ...(good.enabled ? { advRatio, maxShare, ...good.params } : {}) },
    prepare(clf, ctx) {
      const { norm, eps } = ball(ctx);
      const view = textView(clf, pre);
      if (!good.enabled) return craft(view, ctx.xs, ctx.ys, norm, eps, ctx.seed);
      // The enlarged batch's ids travel with its perturbation, as one more channel of δ.
      const m = Math.max(1, adversarialRows(ctx.xs.shape[0]!, advRatio));
      const inserted = good.rows(view, ctx, m);
      const out = tf.tidy(() => {
        const xs = tf.concat([ctx.xs, inserted], 0);
        const delta = craft(view, xs, tf.concat([ctx.ys, tf.slice(ctx.ys, 0, m)], 0), norm, eps, ctx.seed);
        return tf.concat([delta, tf.expandDims(tf.cast(xs, 'float32'), 2)], 2);
      });
      inserted.dispose();
      return out;
    },
    loss(clf, ctx, prepared) {
      const view = textView(clf, pre);
      const b = ctx.xs.shape[0]!;
      let xs = ctx.xs;
      let ys = ctx.ys;
      let delta = prepared as tf.Tensor3D;
      if (good.enabled) {
        const [rows, L, d1] = prepared!.shape as [number, number, number];
        delta = tf.slice(prepared!, [0, 0, 0], [rows, L, d1 - 1]) as tf.Tensor3D;
        xs = tf.reshape(tf.slice(prepared!, [0, 0, d1 - 1], [rows, L, 1]), [rows, L]);
        ys = tf.concat([ctx.ys, tf.slice(ctx.ys, 0, rows - b)], 0);
      }
      const { e } = embedded(view, xs);
      const clean = view.logitsFromEmbeddings(e);
      const adv = view.logitsFromEmbeddings(tf.add(e, delta) as tf.Tensor3D);
      const loss = tf.add(tf.mul(cleanWeight, softmaxCrossEntropy(clean, ys, 'mean')), tf.mul(1 - cleanWeight, softmaxCrossEntropy(adv, ys, 'mean'))) as tf.Scalar;
      // Metrics on the batch's own rows (the inserted copies follow them unreported, as in a2t).
      if (!good.enabled) return { loss, clean: { logits: clean }, adv: { logits: adv } };
      return { loss, clean: { logits: tf.slice(clean, 0, b) as tf.Tensor2D }, adv: { logits: tf.slice(adv, 0, b) as tf.Tensor2D } };
    },
    saveState() {
      const json = good.saveState();
      return json ? { json } : {};
    },
    loadState(state) {
      good.loadState(state.json);
    },
  };
}
