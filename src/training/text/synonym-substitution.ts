import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers the gradients of the core ops
import type { SynonymTensors } from './synonym-table.js';
import { softmaxCrossEntropy } from '../../engine/cross-entropy.js';

/** The part of a text model the substitution needs: its embedding and the layers after it. */
export interface EmbeddingSplit {
  /** `[V, dim]` (a view; not disposed). */
  embeddingMatrix(): tf.Tensor2D;
  /** Differentiable logits of embedded tokens `[b, L, dim]`. */
  logitsFromEmbeddings(e: tf.Tensor3D): tf.Tensor2D;
}

/**
 * Options of {@link synonymSubstitution}.
 *
 * @example
 * ```ts
 * const o: SubstitutionOptions = { maxShare: 0.1, steps: 3 };
 * ```
 */
export interface SubstitutionOptions {
  /** Largest share of a text's words replaced (the text threat's budget: ⌊share · words⌋). */
  maxShare: number;
  /** Words each text may change whatever its length (A2T's min_threshold); default 0 (the attacks' budget exactly). */
  minChanges?: number;
  /** Gradient rounds: each recomputes the gradient and replaces up to ⌈budget / steps⌉ words. Default 3. */
  steps?: number;
}

/**
 * A2T's cheap attack on token ids, batched (Yoo & Qi 2021): word importance is the norm of the
 * loss's gradient with respect to each embedded token, and each important word is replaced by
 * the synonym (from the precomputed table) with the largest first-order gain
 * (e_syn − e_word)·∇_e. In `steps` rounds, each with a fresh gradient, every text replaces up
 * to ⌈budget / steps⌉ of its most important not yet replaced words whose best gain is positive;
 * a text the model already misclassifies is left as it is (its attack has succeeded). Only
 * editable words (not stop words, URLs, e-mail addresses, numbers or punctuation — the table's
 * rule) are replaced, only by their own synonyms, at most ⌊maxShare · words⌋ per text.
 * `ys` are the one-hot labels. Returns the new ids `[b, L]` int32; no JS loop over examples, one forward and backward pass
 * per round.
 *
 * @example
 * ```ts
 * const adv = synonymSubstitution(textClf, synonymTensors(table), ids, ys, { maxShare: 0.1 });
 * ```
 */
export function synonymSubstitution(model: EmbeddingSplit, table: SynonymTensors, ids: tf.Tensor2D, ys: tf.Tensor2D, o: SubstitutionOptions): tf.Tensor2D {
  const steps = o.steps ?? 3;
  const minChanges = o.minChanges ?? 0;
  if (!(Number.isInteger(steps) && steps >= 1)) throw new Error(`substitution steps must be a positive integer (got ${steps})`);
  if (!(o.maxShare > 0 && o.maxShare <= 1)) throw new Error(`the share of words replaced must be in (0, 1] (got ${o.maxShare})`);
  const [b, L] = ids.shape;
  if (b === 0) return tf.clone(ids);
  return tf.tidy(() => {
    const E = model.embeddingMatrix();
    const K = table.k;
    const orig = tf.cast(ids, 'int32') as tf.Tensor2D;
    const y = tf.argMax(ys, 1);
    const cand = tf.gather(table.candidates, orig) as unknown as tf.Tensor3D; // [b, L, K]
    const candOk = tf.greater(cand, 0);
    const d = E.shape[1];
    const candE = tf.reshape(tf.gather(E, tf.reshape(cand, [-1])), [b * L, K, d]); // the candidates' embeddings
    const editable = tf.gather(table.editable, orig) as unknown as tf.Tensor2D; // [b, L]
    const words = tf.sum(tf.gather(table.isWord, orig), 1);
    const budget = tf.maximum(tf.floor(tf.add(tf.mul(words, o.maxShare), 1e-9)), tf.minimum(minChanges, tf.sum(editable, 1))); // [b]
    const perStep = tf.ceil(tf.div(budget, steps));
    const kMax = Math.max(1, Math.ceil(Math.max(Math.floor(o.maxShare * L + 1e-9), minChanges) / steps));
    const ranks = tf.reshape(tf.range(0, kMax, 1, 'float32'), [1, kMax]);
    let cur = orig;
    let changed = tf.zeros([b, L]);
    for (let s = 0; s < steps; s++) {
      const e = tf.gather(E, cur) as unknown as tf.Tensor3D;
      const lossOf = (emb: tf.Tensor) => softmaxCrossEntropy(model.logitsFromEmbeddings(emb as tf.Tensor3D), ys, 'sum');
      const g = tf.grad(lossOf)(e) as tf.Tensor3D; // [b, L, d]
      const right = tf.cast(tf.equal(tf.argMax(model.logitsFromEmbeddings(e), 1), y), 'float32'); // [b]
      const importance = tf.norm(g, 'euclidean', 2) as tf.Tensor2D; // [b, L]
      // First-order gain (e_cand − e_word)·∇_e, as one batched product per position.
      const gain = tf.sub(tf.reshape(tf.matMul(candE, tf.reshape(g, [b * L, d, 1])), [b, L, K]), tf.expandDims(tf.sum(tf.mul(e, g), 2), 2));
      const masked = tf.where(candOk, gain, tf.fill(gain.shape, -Infinity));
      const bestK = tf.argMax(masked, 2); // [b, L]
      const bestGain = tf.max(masked, 2);
      const eligible = tf.mul(tf.mul(editable, tf.sub(1, changed)), tf.mul(tf.cast(tf.greater(bestGain, 0), 'float32'), tf.expandDims(right, 1)));
      const score = tf.where(tf.greater(eligible, 0), importance, tf.fill([b, L], -1));
      const allowed = tf.minimum(perStep, tf.sub(budget, tf.sum(changed, 1))); // [b]
      const top = tf.topk(score, Math.min(kMax, L));
      const take = tf.logicalAnd(tf.less(tf.slice(ranks, [0, 0], [1, top.indices.shape[1]!]), tf.expandDims(allowed, 1)), tf.greaterEqual(top.values, 0)); // [b, kMax]
      const sel = tf.greater(tf.sum(tf.mul(tf.oneHot(top.indices, L), tf.expandDims(tf.cast(take, 'float32'), 2)), 1), 0); // [b, L]
      const bestId = tf.sum(tf.mul(tf.oneHot(bestK, K, 1, 0, 'int32'), cand), 2) as tf.Tensor2D;
      cur = tf.where(sel, bestId, cur);
      changed = tf.add(changed, tf.cast(sel, 'float32'));
    }
    return cur;
  });
}
