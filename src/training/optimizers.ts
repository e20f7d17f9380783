import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.js';
import { NativeAdamOptimizer, nativeOptimizersActive } from '../engine/native/index.js';

export type OptimizerName = 'adam' | 'sgd' | 'momentum';
export const OPTIMIZER_NAMES: OptimizerName[] = ['adam', 'sgd', 'momentum'];

/**
 * Creates a tfjs optimizer whose learning rate the Trainer can change every step. On the native
 * engine, 'adam' is {@link NativeAdamOptimizer}: a `tf.AdamOptimizer` (same numbers, same
 * checkpoint layout) whose update runs as one native kernel.
 *
 * @example
 * ```ts
 * const opt = makeOptimizer('momentum', 0.01);
 * setLearningRate(opt, 0.005);
 * ```
 */
export function makeOptimizer(name: string, lr: number): tf.Optimizer {
  switch (name) {
    case 'adam':
      return nativeOptimizersActive() ? new NativeAdamOptimizer(lr) : tf.train.adam(lr);
    case 'sgd':
      return tf.train.sgd(lr);
    case 'momentum':
      return tf.train.momentum(lr, 0.9);
    default:
      throw new UserError(`unknown optimizer '${name}': choose one of ${OPTIMIZER_NAMES.join(', ')}`);
  }
}

/** Sets the learning rate used by the next `applyGradients` (all tfjs optimizers read the field per step). */
export function setLearningRate(opt: tf.Optimizer, lr: number): void {
  // `instanceof` cannot tell optimizers apart: tfjs's Optimizer[Symbol.hasInstance] is duck-typed.
  const o = opt as unknown as { learningRate: number; setLearningRate?: (lr: number) => void };
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr); // SGD, momentum: cached scalar
  else o.learningRate = lr;
}
