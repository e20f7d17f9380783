import * as tf from '@tensorflow/tfjs-core';
import { subset } from '../../data/batching.js';
import type { Dataset } from '../../data/dataset.js';
import type { LayersClassifier } from '../../model/classifier.js';
import { captureOptimizerState, disposeOptimizerState, restoreOptimizerState, type OptimizerState } from '../optimizer-state.js';
import { pgdAccuracy } from '../robust-check.js';
import type { TrainConfig } from '../train-config.js';
import type { CallbackState, EpochVerdict, TrainCallback } from './callback.js';
import { deriveSeed } from '../../data/rng.js';

/** Weights and optimizer state at the start of an epoch, for the roll-back. */
interface Snapshot {
  weights: tf.Tensor[];
  optimizer: OptimizerState;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

async function takeSnapshot(clf: LayersClassifier, opt: tf.Optimizer): Promise<Snapshot> {
  return { weights: clf.model.getWeights().map((w) => w.clone()), optimizer: await captureOptimizerState(opt) };
}

function dropSnapshot(s: Snapshot | undefined): void {
  if (s) {
    tf.dispose(s.weights);
    disposeOptimizerState(s.optimizer);
  }
}

/**
 * The catastrophic-overfitting guard ({@link TrainConfig.coGuard}): at each epoch's start it
 * keeps the weights and optimizer state; at its end it measures PGD accuracy on one fixed
 * training batch, and on a collapse rolls back and asks the strategy to adapt (retry) or stops.
 * Its snapshot and last accuracy are checkpointed, so a resumed run rolls back the same way.
 *
 * @example
 * ```ts
 * const guard = coGuard({ steps: 10, batch: 256 }, trainSet);
 * ```
 */
export function coGuard(spec: NonNullable<TrainConfig['coGuard']>, trainSet: Dataset): TrainCallback {
  const batch = subset(trainSet, Math.min(spec.batch ?? 256, trainSet.n));
  let snapshot: Snapshot | undefined;
  let prevCo: number | undefined;
  let prevCoEps: number | undefined;
  let coAcc: number | null = null;
  /** The roll-back line, reported with the next epoch that is kept. */
  let event: string | undefined;
  return {
    name: 'co-guard',
    async onEpochBegin(loop, _epoch, resuming) {
      if (resuming && snapshot) return;
      dropSnapshot(snapshot);
      snapshot = await takeSnapshot(loop.clf, loop.optimizer);
    },
    async checkEpoch(loop, p): Promise<EpochVerdict> {
      coAcc = null;
      const threat = loop.threatAt(p.epoch + 1 - 1e-9);
      if (!threat) return { kind: 'keep' };
      const acc = await pgdAccuracy(loop.clf, batch, threat, spec, deriveSeed(loop.config.seed, 'co-guard', p.epoch));
      coAcc = acc;
      const trainAdvAcc = p.sums.mean('adv')[1];
      // Accuracies at different ε (during warm-up) are not comparable: only a drop at the same ε counts.
      const fell = prevCo !== undefined && prevCoEps === threat.eps && acc < prevCo - (spec.drop ?? 0.2);
      const gap = trainAdvAcc !== null && acc < (spec.floor ?? 0.05) && trainAdvAcc > (spec.trust ?? 0.3);
      if (!fell && !gap) {
        prevCo = acc;
        prevCoEps = threat.eps;
        return { kind: 'keep' };
      }
      const why = fell
        ? `PGD accuracy on a training batch fell from ${pct(prevCo!)} to ${pct(acc)}`
        : `PGD accuracy on a training batch is ${pct(acc)} while the training attack's accuracy is ${pct(trainAdvAcc!)}`;
      const what = `catastrophic overfitting in epoch ${p.epoch + 1} (${why}); weights rolled back to the end of epoch ${p.epoch}`;
      loop.clf.model.setWeights(snapshot!.weights);
      await restoreOptimizerState(loop.optimizer, snapshot!.optimizer);
      const change = loop.strategy.onCollapse?.();
      if (change === undefined) return { kind: 'stop', line: `${what}; training stopped` };
      event = `${what}; ${change}; epoch retried`;
      return { kind: 'retry', line: event };
    },
    measure: () => ({ co_check_accuracy: coAcc, ...(event ? { event } : {}) }),
    onEpochEnd() {
      event = undefined;
    },
    saveState(inEpoch): CallbackState {
      const json: Record<string, unknown> = { prevCo, prevCoEps, ...(event ? { event } : {}) };
      const tensors: tf.NamedTensorMap = {};
      if (inEpoch && snapshot) {
        snapshot.weights.forEach((w, i) => (tensors[`w/${i}`] = w));
        snapshot.optimizer.weights.forEach((n, i) => (tensors[`opt/${i}`] = n.tensor));
        json.snapshot = { weights: snapshot.weights.length, className: snapshot.optimizer.className, names: snapshot.optimizer.weights.map((n) => n.name), accBeta: snapshot.optimizer.accBeta };
      }
      return { json, tensors };
    },
    loadState({ json = {}, tensors = {} }) {
      prevCo = json.prevCo as number | undefined;
      prevCoEps = json.prevCoEps as number | undefined;
      event = json.event as string | undefined;
      const s = json.snapshot as { weights: number; className: string; names: string[]; accBeta?: [number, number] } | undefined;
      if (!s) return;
      dropSnapshot(snapshot);
      snapshot = {
        weights: Array.from({ length: s.weights }, (_, i) => tensors[`w/${i}`]!.clone()),
        optimizer: {
          className: s.className,
          weights: s.names.map((name, i) => ({ name, tensor: tensors[`opt/${i}`]!.clone() })),
          ...(s.accBeta ? { accBeta: s.accBeta } : {}),
        },
      };
    },
    dispose() {
      dropSnapshot(snapshot);
      snapshot = undefined;
    },
  };
}
