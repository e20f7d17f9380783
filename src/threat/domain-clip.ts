import type * as tf from '@tensorflow/tfjs-core';
import { clipToBox, isBox, repair, repairInBall, type Ball, type Domain } from '../data/domain.js';

/**
 * Maps a batch into the domain. A plain box (images) is clipped — scalar bounds by clipByValue,
 * per-feature bounds broadcast over the batch (a bound array of length prod(inputShape) is laid
 * out like one example) — exactly as before domains had types. A typed domain is repaired
 * ({@link repair}): integer grids, one-hot vertices and, given the `clean` inputs, immutables
 * restored; given also the threat's `ball`, the result stays inside it ({@link repairInBall}).
 *
 * @example
 * ```ts
 * const inside = clipToDomain(xAdv, { lower: 0, upper: 1 });
 * const feasible = clipToDomain(tf.add(x, delta), csv.domain, x, threat);
 * ```
 */
export function clipToDomain(x: tf.Tensor, domain: Domain, clean?: tf.Tensor, ball?: Ball): tf.Tensor {
  if (isBox(domain)) return clipToBox(x, domain);
  return clean && ball ? repairInBall(domain, x, clean, ball) : repair(domain, x, clean);
}
