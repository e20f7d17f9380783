import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.js';
import { NativeAdamOptimizer, NativeMomentumOptimizer, NativeSGDOptimizer, nativeOptimizersActive } from '../engine/native/index.js';

export type OptimizerName = 'adam' | 'sgd' | 'momentum';
export const OPTIMIZER_NAMES: OptimizerName[] = ['adam', 'sgd', 'momentum'];

/**
 * Creates a tfjs optimizer whose learning rate the Trainer can change every step. On the native
 * engine it is the native subclass of the tfjs optimizer ({@link NativeAdamOptimizer} for
 * 'adam'): same class name, same numbers, same checkpoint layout, the update as one native kernel.
 *
 * @example
 * ```ts
 * const opt = makeOptimizer('momentum', 0.01);
 * setLearningRate(opt, 0.005);
 * ```
 */
export function makeOptimizer(name: string, lr: number): tf.Optimizer {
  const native = nativeOptimizersActive();
  switch (name) {
    case 'adam':
      return native ? new NativeAdamOptimizer(lr) : tf.train.adam(lr);
    case 'sgd':
      return native ? new NativeSGDOptimizer(lr) : tf.train.sgd(lr);
    case 'momentum':
      return native ? new NativeMomentumOptimizer(lr, 0.9) : tf.train.momentum(lr, 0.9);
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
