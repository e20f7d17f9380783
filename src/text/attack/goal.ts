import * as tf from '@tensorflow/tfjs-core';
import type { TextClassifier } from '../text-classifier.js';
import type { AttackedText } from './attacked-text.js';

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
    for (let s = 0; s < todo.length; s += bs) {
      const chunk = todo.slice(s, s + bs);
      const probs = tf.tidy(() => tf.softmax(this.clf.logitsOfTexts(chunk)).dataSync() as Float32Array);
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
