import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers the gradients of the core ops
import type { TextClassifier } from '../text-classifier.js';
import { tokenPositions } from './positions.js';
import type { AttackedText } from './attacked-text.js';
import type { AttackContext, Transformation } from './parts.js';
import { matchCase } from './transformations.js';
import { wordNet } from './wordnet.js';

/**
 * Gradient of the attacker's objective with respect to the embedded tokens of `text`, and its
 * ids: one forward and backward pass. The objective is −log p(label), or log p(target).
 */
function embeddingGradient(clf: TextClassifier, text: string, label: number, target?: number): { grad: Float32Array; ids: Int32Array; dim: number } {
  return tf.tidy(() => {
    const ids = clf.encode([text]);
    const E = clf.embeddingMatrix();
    const e = tf.gather(E, ids) as unknown as tf.Tensor3D;
    const g = tf.grad((emb: tf.Tensor) => {
      const logp = tf.logSoftmax(clf.logitsFromEmbeddings(emb as tf.Tensor3D));
      const col = tf.squeeze(tf.slice(logp, [0, target ?? label], [1, 1]));
      return target === undefined ? tf.neg(col) : col;
    })(e);
    return { grad: g.dataSync() as Float32Array, ids: ids.dataSync() as Int32Array, dim: E.shape[1] };
  });
}

/**
 * HotFlip-style gradient-ranked word substitution restricted to synonyms (Ebrahimi et al. 2018;
 * the A2T transformation): one gradient of the loss with respect to the embedded tokens ranks
 * every (word, WordNet synonym) pair by the first-order gain (e_syn − e_word)·∇_e, and the
 * `topN` best pairs are proposed. The gradient counts in the goal's `gradients`.
 *
 * @example
 * ```ts
 * const attack = new TextAttack('my-hotflip', { transformation: gradientSynonymSwap({ topN: 16 }), search: beamSearch({ width: 2 }) });
 * ```
 */
export function gradientSynonymSwap(opts: { topN?: number; maxCandidates?: number } = {}): Transformation {
  const topN = opts.topN ?? 16;
  const maxCands = opts.maxCandidates ?? 30;
  return {
    name: 'gradient-synonym-swap',
    transform(t: AttackedText, ctx: AttackContext, slots?: readonly number[]) {
      const { clf, goal } = ctx;
      const { grad, ids, dim } = embeddingGradient(clf, t.text, goal.spec.label, goal.spec.target);
      goal.gradients++;
      // Positions of the current text's tokens (edits keep one token per slot; inserts shift them).
      const tokens = clf.tokenizer.tokenize(t.text);
      const pos = tokenPositions(clf, tokens, ids);
      const slotPos = new Map<number, number>();
      let k = 0;
      t.base.tokens.forEach((_, i) => {
        for (const _w of t.inserted.get(i) ?? []) k += 2; // an inserted word and its space
        if (k < pos.length) slotPos.set(i, pos[k]!);
        k++;
      });
      const pairs: { slot: number; word: string; id: number; p: number }[] = [];
      for (const slot of slots ?? t.base.editable) {
        const p = slotPos.get(slot) ?? -1;
        if (p < 0) continue;
        const orig = t.base.tokens[slot]!.text;
        for (const s of wordNet().synonyms(orig).slice(0, maxCands)) {
          const w = matchCase(s, orig);
          if (w !== t.wordAt(slot)) pairs.push({ slot, word: w, id: clf.idOf(s), p });
        }
      }
      if (pairs.length === 0) return [];
      const gain = tf.tidy(() => {
        const E = clf.embeddingMatrix();
        const cand = tf.gather(E, tf.tensor1d(pairs.map((q) => q.id), 'int32'));
        const cur = tf.gather(E, tf.tensor1d(pairs.map((q) => ids[q.p]!), 'int32'));
        const gRows = tf.tensor2d(Float32Array.from(pairs.flatMap((q) => Array.from(grad.subarray(q.p * dim, (q.p + 1) * dim)))), [pairs.length, dim]);
        return tf.sum(tf.mul(tf.sub(cand, cur), gRows), 1).dataSync() as Float32Array;
      });
      return pairs
        .map((q, j) => ({ q, g: gain[j]! }))
        .sort((a, b) => b.g - a.g)
        .slice(0, topN)
        .map(({ q }) => t.replace(q.slot, q.word));
    },
  };
}
