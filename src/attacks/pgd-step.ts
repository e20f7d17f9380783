import * as tf from '@tensorflow/tfjs-core';
import type { Domain } from '../data/domain.js';
import type { ThreatModel } from '../threat/threat-model.js';

/**
 * One projected steepest-ascent step, the step every PGD-family attack and training strategy
 * takes: `cur` moved by `stepSize` (in the threat's norm) along the ascent direction of `grad`,
 * projected onto the threat's ball around `x0` and into `domain`. Leaks no tensors.
 *
 * @example
 * ```ts
 * const next = pgdStep(threat, cur, x0, grad, 0.01, clf.domain);
 * ```
 */
export function pgdStep(threat: ThreatModel, cur: tf.Tensor, x0: tf.Tensor, grad: tf.Tensor, stepSize: number, domain: Domain): tf.Tensor {
  return tf.tidy(() => threat.project(tf.add(cur, threat.ascentStep(grad, stepSize)), x0, domain));
}
