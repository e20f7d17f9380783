import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../model/classifier.js';
import type { Dataset } from '../data/dataset.js';
import { batches, toTensors } from '../data/batching.js';
import type { ThreatModel } from '../threat/threat-model.js';
import { Pgd } from '../attacks/pgd.js';
import { deriveSeed } from '../data/rng.js';

/** A PGD robust-accuracy probe used by the training guards. */
export interface RobustCheckSpec {
  steps: number;
  /** Default 2.5·ε/steps. */
  stepSize?: number;
  restarts?: number;
}

/**
 * Robust accuracy of `clf` on `ds` under PGD (examples wrong on clean inputs count as not robust).
 *
 * @example
 * ```ts
 * const acc = await pgdAccuracy(clf, val, parseThreat('linf:0.3'), { steps: 10 }, 0);
 * ```
 */
export async function pgdAccuracy(clf: Classifier, ds: Dataset, threat: ThreatModel, spec: RobustCheckSpec, seed: number): Promise<number> {
  const pgd = new Pgd({ steps: spec.steps, stepSize: spec.stepSize, restarts: spec.restarts ?? 1 });
  let robust = 0;
  for (const batch of batches(ds, 256)) {
    const { xs, ys } = toTensors(batch, ds.shape, ds.numClasses);
    const y = tf.tensor1d(batch.y, 'int32');
    const r = await pgd.run(clf, xs, y, { threat, seed: deriveSeed(seed, 'robust-check'), indices: batch.indices });
    robust += r.success.reduce((a, s) => a + (s ? 0 : 1), 0);
    tf.dispose([xs, ys, y, r.xAdv]);
  }
  return ds.n ? robust / ds.n : 0;
}
