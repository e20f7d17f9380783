import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../model/classifier.js';
import type { ThreatModel } from '../threat/threat-model.js';
import type { AnyThreat } from '../threat/threat.js';
import type { AttackSupport } from './support.js';

export type { AnyThreat } from '../threat/threat.js';

/**
 * How an attack is run on one batch.
 *
 * @example
 * ```ts
 * const opts: AttackOptions = { threat: parseThreat('linf:0.3'), seed: 0 };
 * const r = await new Pgd().run(clf, x, y, opts);
 * ```
 */
export interface AttackOptions<T extends AnyThreat = ThreatModel> {
  /** The perturbation set (norm and budget, or transform box). Minimal-norm attacks use its norm and report the distance they need. */
  threat: T;
  /** Targeted: make the model predict `targets` instead of anything but `y`. */
  targeted?: boolean;
  /** Target classes [b] (int32), required when targeted. */
  targets?: tf.Tensor1D;
  /** Seed for every random choice of the attack. */
  seed?: number;
  /**
   * Each example's global index (e.g. its row in the data set), default 0..b−1. Per-example
   * random draws (random starts and restarts) derive from (seed, index), so an example's result
   * does not depend on the batch it is attacked in.
   */
  indices?: ArrayLike<number>;
  /**
   * The most examples an attack that refills (`support.refills`) evaluates at once; it keeps this
   * many in flight and starts a waiting example whenever one finishes. Default: all of x.
   */
  window?: number;
  /** Called after each iteration with (iteration, examples still being attacked). */
  onIteration?: (iteration: number, active: number) => void;
}

/**
 * What every attack returns. `xAdv` always lies inside the threat's ball and the domain, also for
 * examples where the attack failed (then it is the best attempt, or x itself).
 *
 * @example
 * ```ts
 * const r: AttackResult = await new Pgd().run(clf, x, y, { threat: parseThreat('linf:0.3') });
 * const broken = r.success.reduce((a, s) => a + s, 0);
 * r.xAdv.dispose();
 * ```
 */
export interface AttackResult {
  /** Adversarial inputs, same shape as x. The caller disposes it. */
  xAdv: tf.Tensor;
  /** 1 where the attack succeeded (misclassified, or classified as the target). */
  success: Uint8Array;
  /** Per-example ‖xAdv − x‖ in the threat's norm; for a spatial threat, the normalised L∞ size of the transform (≤ 1). */
  distance: Float32Array;
  /** Per-example model queries (forward passes, with or without gradient) spent. */
  queries: Int32Array;
  /** Iterations run (the largest over the batch). */
  iterations: number;
}

/**
 * An attack holds only its hyperparameters; `run` attacks one batch.
 *
 * @example
 * ```ts
 * const pgd = new Pgd({ steps: 40, stepSize: 0.01, restarts: 1 });
 * const r = await pgd.run(clf, x, labels, { threat: parseThreat('linf:0.3'), seed: 0 });
 * console.log(r.success, r.distance);
 * r.xAdv.dispose();
 * ```
 */
export interface Attack<T extends AnyThreat = ThreatModel> {
  /** CLI name, e.g. 'pgd'. */
  readonly name: string;
  /** The full settings (for result files). */
  readonly params: Readonly<Record<string, unknown>>;
  /** The threats it supports, the model access it needs and its hyperparameter keys; `run` refuses any other threat before work starts. */
  readonly support: AttackSupport;
  run(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, opts: AttackOptions<T>): Promise<AttackResult>;
}
