import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileHandler, type ModelMetadata } from '../model/io.js';
import { writeFileAtomic, withNewDir } from '../fsutil.js';
import { UserError } from '../errors.js';

/** Everything needed to continue a run exactly where it stopped. */
export interface CheckpointState {
  /** Epochs completed. */
  epoch: number;
  /** Optimizer steps taken. */
  step: number;
  /** The run's configuration, so a resume can refuse a different one. */
  config: Record<string, unknown>;
  /** Per-epoch metrics so far. */
  history: Record<string, unknown>[];
  /** Free-form state of strategies and guards (e.g. the best robust accuracy so far). */
  extra?: Record<string, unknown>;
}

const DIR = 'checkpoint';

/**
 * Writes model weights, optimizer state and run state to `runDir/checkpoint`, atomically:
 * the new checkpoint is complete on disk before it replaces the old one.
 *
 * @example
 * ```ts
 * await saveCheckpoint('runs/m', model, optimizer, { epoch: 1, step: 938, config, history }, meta);
 * ```
 */
export async function saveCheckpoint(
  runDir: string,
  model: tfl.LayersModel,
  optimizer: tf.Optimizer,
  state: CheckpointState,
  metadata: ModelMetadata,
): Promise<void> {
  const final = join(runDir, DIR);
  const tmp = join(runDir, `.${DIR}.${process.pid}.tmp`);
  const old = join(runDir, `.${DIR}.old`);
  rmSync(tmp, { recursive: true, force: true });
  await withNewDir(tmp, async (d) => {
    await model.save(fileHandler(d, metadata));
    const optWeights = await optimizer.getWeights();
    const { data, specs } = await tf.io.encodeWeights(optWeights);
    writeFileAtomic(join(d, 'optimizer.bin'), new Uint8Array(tf.io.CompositeArrayBuffer.join(data)));
    writeFileAtomic(join(d, 'state.json'), JSON.stringify({ ...state, optimizer: { class: optimizer.getClassName(), specs } }));
  });
  rmSync(old, { recursive: true, force: true });
  if (existsSync(final)) renameSync(final, old);
  renameSync(tmp, final);
  rmSync(old, { recursive: true, force: true });
}

/** A checkpoint read back from disk. */
export interface LoadedCheckpoint {
  model: tfl.LayersModel;
  state: CheckpointState;
  /** Restores the optimizer's moments and iteration count into `optimizer`. */
  restoreOptimizer(optimizer: tf.Optimizer): Promise<void>;
}

/** Path of the checkpoint to resume from, or undefined if the run has none. */
export function findCheckpoint(runDir: string): string | undefined {
  for (const name of [DIR, `.${DIR}.old`]) {
    const p = join(runDir, name);
    if (existsSync(join(p, 'state.json'))) return p;
  }
  return undefined;
}

/**
 * Loads the checkpoint of a run directory.
 *
 * @example
 * ```ts
 * const ckpt = await loadCheckpoint('runs/m');
 * await ckpt.restoreOptimizer(optimizer);
 * ```
 */
export async function loadCheckpoint(runDir: string): Promise<LoadedCheckpoint> {
  const dir = findCheckpoint(runDir);
  if (!dir) throw new UserError(`no checkpoint to resume in ${runDir}: start without --resume`);
  const raw = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as CheckpointState & {
    optimizer: { class: string; specs: tf.io.WeightsManifestEntry[] };
  };
  const model = await tfl.loadLayersModel(fileHandler(dir));
  const optBytes = readFileSync(join(dir, 'optimizer.bin'));
  const { optimizer: optInfo, ...state } = raw;
  return {
    model,
    state,
    async restoreOptimizer(optimizer) {
      if (optimizer.getClassName() !== optInfo.class) {
        throw new UserError(`checkpoint in ${runDir} used optimizer ${optInfo.class}, not ${optimizer.getClassName()}: resume with the same --optimizer`);
      }
      const buf = optBytes.buffer.slice(optBytes.byteOffset, optBytes.byteOffset + optBytes.byteLength);
      const map = tf.io.decodeWeights(buf, optInfo.specs);
      await optimizer.setWeights(optInfo.specs.map((s) => ({ name: s.name, tensor: map[s.name]! })));
      for (const t of Object.values(map)) t.dispose();
    },
  };
}
