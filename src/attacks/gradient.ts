import * as tf from '@tensorflow/tfjs-core';
// tfjs-layers' bundle registers the gradients of every core op (tfjs-core's own ESM registration file cannot load in Node).
import '@tensorflow/tfjs-layers';
import { crossEntropyProbeOf, type Classifier } from '../model/classifier.js';
import { attackObjective, isSuccess, type AttackLoss } from './losses.js';

/** Logits, per-example objective, success flags and input gradient at one point. */
export interface GradientProbe {
  logits: tf.Tensor2D;
  objective: tf.Tensor1D;
  success: tf.Tensor1D;
  grad: tf.Tensor;
}

/**
 * One forward and backward pass: the gradient of the summed attack objective w.r.t. the input,
 * with the logits and per-example objective at the same point (one query per example). The
 * untargeted cross-entropy runs as the engine's one-pass probe where the classifier has one
 * ({@link crossEntropyProbeOf}: a dense-stack model on the native engine), else on the tape.
 *
 * @example
 * ```ts
 * const p = probe(clf, x, y, 'ce');
 * // use p.grad, p.success …
 * tf.dispose([p.logits, p.objective, p.success, p.grad]);
 * ```
 */
export function probe(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, loss: AttackLoss, target?: tf.Tensor1D): GradientProbe {
  if (loss === 'ce' && !target) {
    const fused = crossEntropyProbeOf(clf)?.(x, y);
    if (fused) return { logits: fused.logits, objective: fused.loss, success: fused.success, grad: fused.grad };
  }
  let logits: tf.Tensor2D | undefined;
  let objective: tf.Tensor1D | undefined;
  const { grad, value } = tf.valueAndGrad((xi: tf.Tensor) => {
    const z = clf.logits(xi);
    logits = tf.keep(z);
    const o = attackObjective(loss, z, y, target);
    objective = tf.keep(o);
    return tf.sum(o) as tf.Scalar;
  })(x);
  value.dispose();
  const success = isSuccess(logits!, y, target);
  return { logits: logits!, objective: objective!, success, grad };
}
