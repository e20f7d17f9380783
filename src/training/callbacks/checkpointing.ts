import type * as tf from '@tensorflow/tfjs-core';
import type { ModelMetadata } from '../../model/io.js';
import { saveCheckpoint } from '../checkpoint.js';
import { killPoint } from '../kill-point.js';
import { configSnapshot, DEFAULT_CHECKPOINT_SECONDS } from '../train-config.js';
import type { CallbackState, EpochProgress, TrainCallback, TrainLoop } from './callback.js';

/** Where the state of callbacks and of the strategy goes in a checkpoint's `extra`. */
export interface CheckpointExtra {
  callbacks: Record<string, Record<string, unknown>>;
  strategy?: Record<string, unknown>;
  /** Present when the checkpoint falls within an epoch. */
  epochInProgress?: { stepAtStart: number; sums: Record<string, unknown>; lr: number; seconds: number };
}

/**
 * Checkpoints of a run ({@link saveCheckpoint}): at each epoch's end, and within an epoch every
 * `every` batches (0: never) or, by default, whenever {@link DEFAULT_CHECKPOINT_SECONDS} have
 * passed since the last. Each holds the loop's position and running sums, the strategy's state
 * and the state of every callback in `sources` (tensors named `NAME/…`), so a resumed run takes
 * exactly the steps the uninterrupted one would have.
 *
 * @example
 * ```ts
 * const cbs = [guard, metricsLog('runs/m')];
 * cbs.push(checkpointing('runs/m', meta, undefined, cbs));
 * ```
 */
export function checkpointing(outDir: string, metadata: ModelMetadata, every: number | undefined, sources: readonly TrainCallback[]): TrainCallback {
  let last = performance.now();
  const save = async (loop: TrainLoop, epochsDone: number, p?: EpochProgress) => {
    const tensors: tf.NamedTensorMap = {};
    const extra: CheckpointExtra = { callbacks: {} };
    const put = (name: string, st: CallbackState | undefined) => {
      for (const [k, t] of Object.entries(st?.tensors ?? {})) tensors[`${name}/${k}`] = t;
      return st?.json ?? {};
    };
    for (const cb of sources) if (cb.saveState) extra.callbacks[cb.name] = put(cb.name, cb.saveState(p !== undefined));
    const st = loop.strategy.saveState?.();
    if (st) extra.strategy = put('strategy', st);
    if (p) extra.epochInProgress = { stepAtStart: p.stepAtStart, sums: p.sums.toJSON(), lr: p.lr, seconds: p.seconds };
    await saveCheckpoint(
      outDir,
      loop.clf.model,
      loop.optimizer,
      { epoch: epochsDone, batch: p?.batch ?? 0, step: loop.step, config: configSnapshot(loop.config), history: loop.history as unknown as Record<string, unknown>[], extra: extra as unknown as Record<string, unknown> },
      metadata,
      tensors,
    );
    last = performance.now();
  };
  return {
    name: 'checkpointing',
    async onBatchEnd(loop, p) {
      if (p.batch >= loop.stepsPerEpoch) return; // the epoch's end has its own checkpoint
      const due = every === undefined ? performance.now() - last >= DEFAULT_CHECKPOINT_SECONDS * 1000 : every > 0 && p.batch % every === 0;
      if (due) await save(loop, p.epoch, p);
    },
    async onEpochEnd(loop, m) {
      await save(loop, m.epoch);
      killPoint('epoch');
    },
  };
}
