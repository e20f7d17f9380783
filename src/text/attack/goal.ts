import * as tf from '@tensorflow/tfjs-core';
import type { TextClassifier } from '../text-classifier.js';
import type { AttackBase, AttackedText } from './attacked-text.js';
import { tokenPositions } from './positions.js';
import { readBack } from '../../engine/read-back.js';

/**
 * What the attack wants of one message: any class but `label` (untargeted), or `target`.
 *
 * @example
 * ```ts
 * const spec: GoalSpec = { label: 1, maxQueries: 2000 };             // spam → anything else
 * const targeted: GoalSpec = { label: 1, target: 0, maxQueries: 2000 }; // spam → ham
 * ```
 */
export interface GoalSpec {
  /** The true class. */
  label: number;
  /** The class to reach (targeted); absent: any other class. */
  target?: number;
  /** Largest number of candidate texts scored for this message (the query budget). */
  maxQueries: number;
  /** Candidates scored per forward pass (default 256). */
  batchSize?: number;
}

/** A scored candidate. */
export interface Scored {
  text: AttackedText;
  /** Untargeted: 1 − p(label); targeted: p(target). Higher is better for the attacker; −∞ when not scored (budget spent). */
  score: number;
  /** Predicted class. */
  pred: number;
  /** True when the goal is reached (prediction ≠ label, or = target). */
  success: boolean;
}

/**
 * The goal function (TextAttack's term) of one message: scores candidate texts in batches —
 * one `logitsOfTexts` forward per batch of up to `batchSize` candidates, never one per
 * candidate — caches scores by text, counts the queries and stops at the query budget.
 *
 * @example
 * ```ts
 * const goal = new TextGoal(clf, { label: 1, maxQueries: 1000 });
 * const [best] = goal.score([candidate]);
 * console.log(best.score, best.success, goal.queries);
 * ```
 */
export class TextGoal {
  /** Candidate texts scored so far (cached ones are not counted again). */
  queries = 0;
  /** Gradient computations (white-box transformations), counted apart from `queries`. */
  gradients = 0;
  private readonly cache = new Map<string, { score: number; pred: number }>();
  /** The id fast path of one base: its encoded ids and each token's position (null: not usable). */
  private fast?: { base: AttackBase; ids: Int32Array; pos: Int32Array } | null;
  private readonly wordIds = new Map<string, number | null>();
  constructor(
    readonly clf: TextClassifier,
    readonly spec: GoalSpec,
  ) {}

  /** True once the query budget is spent. */
  get exhausted(): boolean {
    return this.queries >= this.spec.maxQueries;
  }

  /** True when `pred` reaches the goal. */
  reached(pred: number): boolean {
    return this.spec.target === undefined ? pred !== this.spec.label : pred === this.spec.target;
  }

  /** The id of a replacement or inserted word, or null when it is not exactly one model token. */
  private wordId(w: string): number | null {
    let id = this.wordIds.get(w);
    if (id === undefined) {
      const toks = this.clf.tokenizer.tokenize(w);
      id = toks.length === 1 && toks[0]!.kind !== 'space' ? this.clf.idOf(w.toLowerCase()) : null;
      this.wordIds.set(w, id);
    }
    return id;
  }

  /**
   * The model's input ids of candidates, built from their base's encoding instead of
   * re-tokenizing every text (the same ids `encode` gives: replaced and inserted words are
   * single tokens, and the encoding maps each non-space token to one position, which is checked
   * on the base). Undefined when that does not hold: then the texts go through `logitsOfTexts`.
   */
  private idsOf(cands: readonly AttackedText[]): Int32Array | undefined {
    const base = cands[0]?.base;
    if (!base || cands.some((c) => c.base !== base)) return undefined;
    if (this.fast === undefined || (this.fast && this.fast.base !== base)) {
      const ids = readBack(() => this.clf.encode([base.original])) as Int32Array;
      const pos = tokenPositions(this.clf, base.tokens, ids);
      // Dense: the k-th non-space token sits at position k (while it fits).
      let ord = 0;
      let dense = true;
      base.tokens.forEach((t, i) => {
        if (t.kind === 'space') return;
        if (pos[i] !== (ord < ids.length ? ord : -1)) dense = false;
        ord++;
      });
      this.fast = dense ? { base, ids, pos } : null;
    }
    if (!this.fast) return undefined;
    const L = this.clf.maxLength;
    const out = new Int32Array(cands.length * L);
    const { ids, pos } = this.fast;
    for (let r = 0; r < cands.length; r++) {
      const c = cands[r]!;
      const row = out.subarray(r * L, (r + 1) * L);
      let deletes = false;
      for (const w of c.replaced.values()) if (w === '') deletes = true;
      if (c.inserted.size === 0 && !deletes) {
        row.set(ids);
        for (const [i, w] of c.replaced) {
          if (pos[i]! < 0) continue;
          const id = this.wordId(w);
          if (id === null) return undefined;
          row[pos[i]!] = id;
        }
        continue;
      }
      // Insertions and deletions ('' replacements) shift what follows: walk the tokens.
      let p = 0;
      for (let i = 0; i < base.tokens.length && p < L; i++) {
        for (const w of c.inserted.get(i) ?? []) {
          const id = this.wordId(w);
          if (id === null) return undefined;
          if (p < L) row[p++] = id;
        }
        if (base.tokens[i]!.kind === 'space' || p >= L) continue;
        const w = c.replaced.get(i);
        if (w === '') continue;
        const id = w === undefined ? this.clf.idOf(base.tokens[i]!.text.toLowerCase()) : this.wordId(w);
        if (id === null) return undefined;
        row[p++] = id;
      }
    }
    return out;
  }

  /** The goal score from one row of probabilities. */
  private scoreOf(probs: Float32Array, row: number, k: number): number {
    return this.spec.target === undefined ? 1 - probs[row * k + this.spec.label]! : probs[row * k + this.spec.target]!;
  }

  /**
   * Scores candidates, in order. Candidates beyond the query budget come back unscored
   * (score −∞, not successful).
   */
  score(cands: readonly AttackedText[]): Scored[] {
    const todo: string[] = [];
    const seen = new Set<string>();
    for (const c of cands) {
      const t = c.text;
      if (!this.cache.has(t) && !seen.has(t) && this.queries + todo.length < this.spec.maxQueries) {
        seen.add(t);
        todo.push(t);
      }
    }
    const bs = this.spec.batchSize ?? 256;
    const k = this.clf.numClasses;
    const byText = new Map(cands.map((c) => [c.text, c]));
    for (let s = 0; s < todo.length; s += bs) {
      const chunk = todo.slice(s, s + bs);
      const ids = this.idsOf(chunk.map((t) => byText.get(t)!));
      const probs = readBack(() => {
        const z = ids ? this.clf.ids.logits(tf.tensor2d(ids, [chunk.length, this.clf.maxLength], 'int32')) : this.clf.logitsOfTexts(chunk);
        return tf.softmax(z);
      }) as Float32Array;
      chunk.forEach((t, r) => {
        let pred = 0;
        for (let j = 1; j < k; j++) if (probs[r * k + j]! > probs[r * k + pred]!) pred = j;
        this.cache.set(t, { score: this.scoreOf(probs, r, k), pred });
      });
      this.queries += chunk.length;
    }
    return cands.map((c) => {
      const hit = this.cache.get(c.text);
      return hit ? { text: c, score: hit.score, pred: hit.pred, success: this.reached(hit.pred) } : { text: c, score: -Infinity, pred: -1, success: false };
    });
  }
}
