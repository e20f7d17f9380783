import * as tf from '@tensorflow/tfjs-core';
import type { ThreatModel } from '../threat/threat-model.js';
import type { AttackResult } from './attack.js';

/**
 * Book-keeping shared by all attacks on one batch: which examples are still being attacked,
 * the best adversarial input found for each (the successful one of smallest distance, or, while
 * none succeeded, the attempt with the highest objective), and the queries spent per example.
 * Attacks work on the active subset only, so an example stops costing compute once it is broken.
 *
 * @example
 * ```ts
 * const t = new AttackTracker(x, y);
 * const idx = t.activeIndices();          // rows still unbroken
 * t.offer(idx, xCandidate, successFlags, distances, scores);
 * return t.result(threat, iterations);
 * ```
 */
export class AttackTracker {
  readonly n: number;
  readonly size: number;
  readonly shape: number[];
  private readonly best: Float32Array;
  private readonly bestDist: Float32Array;
  private readonly bestScore: Float32Array;
  readonly success: Uint8Array;
  readonly queries: Int32Array;

  constructor(
    private readonly x: tf.Tensor,
    /** 'first': an example is done at its first success (budgeted attacks). 'min': keep improving the distance (minimal-norm attacks). */
    readonly mode: 'first' | 'min' = 'first',
  ) {
    this.n = x.shape[0]!;
    this.shape = x.shape.slice(1);
    this.size = x.size / this.n;
    this.best = x.dataSync().slice() as Float32Array;
    this.bestDist = new Float32Array(this.n).fill(Infinity);
    this.bestScore = new Float32Array(this.n).fill(-Infinity);
    this.success = new Uint8Array(this.n);
    this.queries = new Int32Array(this.n);
  }

  /** Global indices of the examples not yet successful (in 'first' mode) or all (in 'min' mode). */
  activeIndices(): Int32Array {
    if (this.mode === 'min') return Int32Array.from({ length: this.n }, (_, i) => i);
    const out: number[] = [];
    for (let i = 0; i < this.n; i++) if (!this.success[i]) out.push(i);
    return Int32Array.from(out);
  }

  /** Adds `q` queries to each listed example. */
  count(indices: ArrayLike<number>, q = 1): void {
    for (let k = 0; k < indices.length; k++) this.queries[indices[k]!]! += q;
  }

  /**
   * Offers candidates for rows `indices` (global). A successful candidate replaces the stored
   * one if the example had no success yet or (mode 'min') the distance is smaller; a failed
   * candidate replaces a failed stored one when its score is higher. Returns the per-row flags
   * of the rows that are now done (always false in 'min' mode).
   */
  offer(indices: Int32Array, xCand: tf.Tensor, succeeded: ArrayLike<number | boolean>, dist?: ArrayLike<number>, score?: ArrayLike<number>): Uint8Array {
    const data = xCand.dataSync();
    const done = new Uint8Array(indices.length);
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k]!;
      const d = dist ? dist[k]! : 0;
      let take = false;
      if (succeeded[k]) {
        take = !this.success[i] || (this.mode === 'min' && d < this.bestDist[i]!);
        if (take) {
          this.success[i] = 1;
          this.bestDist[i] = d;
        }
        done[k] = this.mode === 'first' ? 1 : 0;
      } else if (!this.success[i]) {
        const s = score ? score[k]! : 0;
        take = !score || s > this.bestScore[i]!;
        if (take) this.bestScore[i] = s;
      }
      if (take) this.best.set(data.subarray(k * this.size, (k + 1) * this.size), i * this.size);
    }
    return done;
  }

  /** The stored best inputs of the listed rows, as a tensor. */
  bestOf(indices: Int32Array): tf.Tensor {
    const out = new Float32Array(indices.length * this.size);
    for (let k = 0; k < indices.length; k++) out.set(this.best.subarray(indices[k]! * this.size, (indices[k]! + 1) * this.size), k * this.size);
    return tf.tensor(out, [indices.length, ...this.shape]);
  }

  /** The final AttackResult; distances are measured again in the threat's norm. */
  result(threat: ThreatModel, iterations: number): AttackResult {
    const xAdv = tf.tensor(this.best, [this.n, ...this.shape]);
    const d = threat.distance(xAdv, this.x);
    const distance = Float32Array.from(d.dataSync());
    d.dispose();
    return { xAdv, success: this.success.slice(), distance, queries: this.queries.slice(), iterations };
  }
}

/** Rows of `t` at the given (local) positions. */
export function rows<T extends tf.Tensor>(t: T, local: Int32Array | number[]): T {
  return tf.tidy(() => tf.gather(t, tf.tensor1d(Array.from(local), 'int32'))) as T;
}

/** Rows of `t` at the given (local) positions; `t` itself is disposed (for shrinking an active batch). */
export function shrinkRows<T extends tf.Tensor>(t: T, local: Int32Array | number[]): T {
  const r = rows(t, local);
  t.dispose();
  return r;
}

/** Local positions whose flag is 0. */
export function remaining(flags: ArrayLike<number>): Int32Array {
  const out: number[] = [];
  for (let k = 0; k < flags.length; k++) if (!flags[k]) out.push(k);
  return Int32Array.from(out);
}
