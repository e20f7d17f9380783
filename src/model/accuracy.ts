import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from './classifier.js';
import type { Dataset } from '../data/dataset.js';
import { batches, toTensors } from '../data/batching.js';
import { softmaxCrossEntropy } from '../engine/cross-entropy.js';

/**
 * Clean accuracy and mean cross-entropy of a classifier on a data set.
 *
 * @example
 * ```ts
 * const m: CleanMetrics = evaluateClean(clf, data.test);
 * console.log(m.accuracy, m.loss, m.n);
 * ```
 */
export interface CleanMetrics {
  accuracy: number;
  loss: number;
  n: number;
  /** Per-example correctness, in data-set order. */
  correct: Uint8Array;
}

/**
 * Evaluates a classifier on clean inputs, in batches, leaking no tensors.
 *
 * @example
 * ```ts
 * const { accuracy } = evaluateClean(clf, test);
 * ```
 */
export function evaluateClean(clf: Classifier, ds: Dataset, opts: { batchSize?: number; onBatch?: (done: number) => void } = {}): CleanMetrics {
  const batchSize = opts.batchSize ?? 500;
  const correct = new Uint8Array(ds.n);
  let lossSum = 0;
  let done = 0;
  for (const batch of batches(ds, batchSize)) {
    const [pred, loss] = tf.tidy(() => {
      const { xs, ys } = toTensors(batch, ds.shape, ds.numClasses);
      const logits = clf.logits(xs);
      const l = softmaxCrossEntropy(logits, ys, 'sum');
      return [tf.argMax(logits, 1), l];
    });
    const p = pred.dataSync();
    lossSum += loss.dataSync()[0]!;
    tf.dispose([pred, loss]);
    for (let k = 0; k < batch.size; k++) correct[batch.indices[k]!] = p[k] === batch.y[k] ? 1 : 0;
    done += batch.size;
    opts.onBatch?.(done);
  }
  const hits = correct.reduce((a, b) => a + b, 0);
  return { accuracy: ds.n ? hits / ds.n : 0, loss: ds.n ? lossSum / ds.n : 0, n: ds.n, correct };
}
