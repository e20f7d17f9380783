import type { Dataset } from '../../data/dataset.js';
import { evaluateClean } from '../../model/accuracy.js';
import type { TrainCallback } from './callback.js';

/**
 * Clean validation after each epoch: `val_loss` and `val_accuracy` of the metrics.
 *
 * @example
 * ```ts
 * const v = validation(valSet);
 * ```
 */
export function validation(valSet: Dataset): TrainCallback {
  return {
    name: 'validation',
    measure(loop) {
      const v = evaluateClean(loop.clf, valSet);
      return { val_loss: v.loss, val_accuracy: v.accuracy };
    },
  };
}
