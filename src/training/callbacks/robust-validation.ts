import { join } from 'node:path';
import { subset } from '../../data/batching.js';
import type { Dataset } from '../../data/dataset.js';
import { saveModel } from '../../model/io.js';
import type { ThreatModel } from '../../threat/threat-model.js';
import { pgdAccuracy } from '../robust-check.js';
import type { TrainConfig, TrainResult } from '../train-config.js';
import type { TrainCallback } from './callback.js';
import { deriveSeed } from '../../data/rng.js';

/** The robust-validation callback, which also tells the best epoch so far. */
export interface RobustValidation extends TrainCallback {
  best(): TrainResult['best'];
}

/**
 * Robust early stopping (Rice et al. 2020, {@link TrainConfig.robustValidation}): PGD accuracy on
 * the validation set after each epoch; the best epoch's model is saved to `outDir/best`.
 *
 * @example
 * ```ts
 * const rv = robustValidation({ steps: 10, n: 1000 }, valSet, parseThreat('linf:0.3'), 'runs/m', meta);
 * ```
 */
export function robustValidation(
  spec: NonNullable<TrainConfig['robustValidation']>,
  valSet: Dataset,
  threat: ThreatModel,
  outDir: string | undefined,
  metadata: TrainConfig['metadata'],
): RobustValidation {
  const data = subset(valSet, Math.min(spec.n ?? valSet.n, valSet.n));
  let best: TrainResult['best'];
  return {
    name: 'robust-validation',
    best: () => best,
    measure: async (loop, p) => ({ robust_val_accuracy: await pgdAccuracy(loop.clf, data, threat, spec, deriveSeed(loop.config.seed, 'robust-validation', p.epoch)) }),
    async onEpochEnd(loop, m) {
      const acc = m.robust_val_accuracy;
      if (acc === null || (best && acc <= best.robust_val_accuracy)) return;
      best = { epoch: m.epoch, robust_val_accuracy: acc };
      if (outDir) await saveModel(join(outDir, 'best'), loop.clf.model, metadata!);
    },
    saveState: () => ({ json: { best } }),
    loadState({ json = {} }) {
      best = json.best as TrainResult['best'];
    },
  };
}
