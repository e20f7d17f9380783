import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../model/classifier.js';
import type { Dataset } from '../data/dataset.js';
import { exampleSize } from '../data/dataset.js';
import type { AnyThreat } from '../threat/threat.js';
import type { Attack } from '../attacks/attack.js';
import { runAttack } from './attack-run.js';

/** Accuracy of a classifier on inputs given as one flat buffer with the data set's labels. */
export function accuracyOn(clf: Classifier, ds: Dataset, x: Float32Array): number {
  const size = exampleSize(ds);
  let hits = 0;
  for (let s = 0; s < ds.n; s += 500) {
    const n = Math.min(500, ds.n - s);
    const pred = tf.tidy(() => tf.argMax(clf.logits(tf.tensor(x.subarray(s * size, (s + n) * size), [n, ...ds.shape])), 1));
    const p = pred.dataSync();
    pred.dispose();
    for (let k = 0; k < n; k++) if (p[k] === ds.y[s + k]) hits++;
  }
  return ds.n ? hits / ds.n : 0;
}

/**
 * The transferability matrix: adversarial examples crafted on each model (source, column) and
 * every model's accuracy on them (target, row): `matrix[target][source]`. The diagonal is each
 * model's white-box robust accuracy. Examples a source already misclassifies are kept clean.
 *
 * @example
 * ```ts
 * const m = await transferMatrix([a, b], subset(test, 1000), parseThreat('linf:0.3'), new Pgd({ steps: 50 }));
 * ```
 */
export async function transferMatrix(models: Classifier[], ds: Dataset, threat: AnyThreat, attack: Attack<AnyThreat>, seed = 0, onSource?: (j: number) => void): Promise<number[][]> {
  const size = exampleSize(ds);
  const matrix = models.map(() => models.map(() => 0));
  for (let j = 0; j < models.length; j++) {
    const adv = ds.x.slice(0, ds.n * size);
    await runAttack(models[j]!, ds, attack, { threat, seed, advOut: adv });
    for (let i = 0; i < models.length; i++) matrix[i]![j] = accuracyOn(models[i]!, ds, adv);
    onSource?.(j);
  }
  return matrix;
}
