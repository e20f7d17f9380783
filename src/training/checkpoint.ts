import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensor } from '@tensorflow/tfjs-core/dist/tensor_types.js';
import * as tfl from '@tensorflow/tfjs-layers';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileHandler, type ModelMetadata } from '../model/io.js';
import { UserError } from '../errors.js';
import { captureOptimizerState, disposeOptimizerState, restoreOptimizerState, type OptimizerState } from './optimizer-state.js';
import { killPoint } from './kill-point.js';

/**
 * Version of the checkpoint layout. Format 1 (no manifest, Adam's β-powers not saved) cannot
 * resume exactly and is refused.
 */
export const CHECKPOINT_FORMAT = 2;

/** Everything needed to continue a run exactly where it stopped. */
export interface CheckpointState {
  /** Epochs completed. */
  epoch: number;
  /** Batches of the next epoch already trained (0 or absent: the checkpoint is at an epoch boundary). */
  batch?: number;
  /** Optimizer steps taken. */
  step: number;
  /** The run's configuration, so a resume can refuse a different one. */
  config: Record<string, unknown>;
  /** Per-epoch metrics so far. */
  history: Record<string, unknown>[];
  /** Free-form JSON state of the loop, strategies and guards (e.g. the best robust accuracy so far). */
  extra?: Record<string, unknown>;
}

/** The checkpoint directory of a run, the previous one kept until a newer one is complete, and the one being written. */
const DIR = 'checkpoint';
const PREV = 'checkpoint.prev';
/** A checkpoint being written; alone in a run directory it means the run stopped before its first checkpoint, and the directory counts as empty. */
export const CHECKPOINT_TEMP = '.checkpoint.new';
const NEW = CHECKPOINT_TEMP;
const MANIFEST = 'manifest.json';

/** manifest.json: written last, so a checkpoint without it is incomplete. */
interface Manifest {
  format: number;
  files: Record<string, { bytes: number; sha256: string }>;
}

interface StateFile extends CheckpointState {
  optimizer: { class: string; specs: tf.io.WeightsManifestEntry[]; accBeta?: [number, number] };
  tensors: tf.io.WeightsManifestEntry[];
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function writeSynced(path: string, data: string | Uint8Array): void {
  writeFileSync(path, data);
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some file systems cannot fsync a directory; the renames are still atomic.
  }
}

async function encode(tensors: NamedTensor[]): Promise<{ bytes: Uint8Array; specs: tf.io.WeightsManifestEntry[] }> {
  const { data, specs } = await tf.io.encodeWeights(tensors);
  return { bytes: new Uint8Array(tf.io.CompositeArrayBuffer.join(data)), specs };
}

/**
 * Writes model weights, optimizer state, run state and any extra tensors (a strategy's state,
 * the guard's snapshot) to `runDir/checkpoint`, atomically: everything goes to a new directory,
 * a manifest with each file's size and SHA-256 is written last, then the directory is renamed
 * into place. The checkpoint it replaces is kept as `checkpoint.prev` until the next one is
 * complete, so a corrupt checkpoint can fall back on it (`--resume previous`).
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
  tensors: tf.NamedTensorMap = {},
): Promise<void> {
  const tmp = join(runDir, NEW);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await model.save(fileHandler(tmp, metadata));
  killPoint('checkpoint-write');
  const opt = await captureOptimizerState(optimizer);
  let optFile, extraFile;
  try {
    optFile = await encode(opt.weights);
    extraFile = await encode(Object.entries(tensors).map(([name, tensor]) => ({ name, tensor })));
  } finally {
    disposeOptimizerState(opt);
  }
  writeSynced(join(tmp, 'optimizer.bin'), optFile.bytes);
  writeSynced(join(tmp, 'tensors.bin'), extraFile.bytes);
  const file: StateFile = {
    ...state,
    batch: state.batch ?? 0,
    optimizer: { class: opt.className, specs: optFile.specs, ...(opt.accBeta ? { accBeta: opt.accBeta } : {}) },
    tensors: extraFile.specs,
  };
  writeSynced(join(tmp, 'state.json'), JSON.stringify(file));
  const manifest: Manifest = { format: CHECKPOINT_FORMAT, files: {} };
  for (const name of readdirSync(tmp).sort()) {
    const bytes = readFileSync(join(tmp, name));
    manifest.files[name] = { bytes: bytes.byteLength, sha256: sha256(bytes) };
  }
  killPoint('checkpoint-manifest');
  writeSynced(join(tmp, MANIFEST), JSON.stringify(manifest, null, 1));
  syncDir(tmp);
  const final = join(runDir, DIR);
  const prev = join(runDir, PREV);
  if (existsSync(final)) {
    rmSync(prev, { recursive: true, force: true });
    renameSync(final, prev);
  }
  killPoint('checkpoint-rename');
  renameSync(tmp, final);
  syncDir(runDir);
}

/** Which checkpoint to resume: the last one, or the one before it (when the last is corrupt). */
export type CheckpointChoice = 'latest' | 'previous';

/** A checkpoint read back from disk and verified against its manifest. */
export interface LoadedCheckpoint {
  /** The directory it was read from. */
  dir: string;
  model: tfl.LayersModel;
  state: CheckpointState;
  /** The extra tensors saved with it; the caller owns them. */
  tensors: tf.NamedTensorMap;
  /** Restores the optimizer's slots, iteration count and (Adam) β-powers into `optimizer`. */
  restoreOptimizer(optimizer: tf.Optimizer): Promise<void>;
}

/**
 * Path of the checkpoint to resume from, or undefined if the run has none. 'latest' is
 * `checkpoint/`, or `checkpoint.prev/` when a kill fell between the two renames of a save.
 */
export function findCheckpoint(runDir: string, which: CheckpointChoice = 'latest'): string | undefined {
  const names = which === 'previous' ? [PREV] : [DIR, PREV];
  for (const name of names) {
    const p = join(runDir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Checks every file of a checkpoint against its manifest; throws a one-line UserError naming the first bad file. */
function verify(dir: string, runDir: string, which: CheckpointChoice): Manifest {
  const fallback =
    which === 'latest' && existsSync(join(runDir, PREV))
      ? `resume from the previous checkpoint with --resume previous, or start over by deleting ${runDir}`
      : `start over by deleting ${runDir} (or train into another --out)`;
  const mpath = join(dir, MANIFEST);
  if (!existsSync(mpath)) {
    if (existsSync(join(dir, 'state.json'))) {
      throw new UserError(`the checkpoint in ${dir} has format 1 (written by an older advtrain) and cannot be resumed exactly; this version reads format ${CHECKPOINT_FORMAT}: start over by deleting ${runDir} (or train into another --out)`);
    }
    throw new UserError(`checkpoint file ${mpath} is missing (the checkpoint is incomplete): ${fallback}`);
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(mpath, 'utf8')) as Manifest;
    if (typeof manifest.format !== 'number' || typeof manifest.files !== 'object' || manifest.files === null) throw new Error('fields');
  } catch {
    throw new UserError(`checkpoint file ${mpath} is corrupt (not a manifest): ${fallback}`);
  }
  if (manifest.format !== CHECKPOINT_FORMAT) {
    throw new UserError(`the checkpoint in ${dir} has format ${manifest.format}; this version of advtrain reads format ${CHECKPOINT_FORMAT}: start over by deleting ${runDir} (or train into another --out)`);
  }
  for (const [name, want] of Object.entries(manifest.files)) {
    const p = join(dir, name);
    if (!existsSync(p)) throw new UserError(`checkpoint file ${p} is missing: ${fallback}`);
    const bytes = readFileSync(p);
    if (bytes.byteLength !== want.bytes) throw new UserError(`checkpoint file ${p} is truncated or corrupt (${bytes.byteLength} bytes, the manifest says ${want.bytes}): ${fallback}`);
    if (sha256(bytes) !== want.sha256) throw new UserError(`checkpoint file ${p} is corrupt (its SHA-256 does not match the manifest): ${fallback}`);
  }
  return manifest;
}

const toArrayBuffer = (b: Buffer): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

/**
 * Loads and verifies the checkpoint of a run directory. A missing, truncated or corrupt file, or
 * a checkpoint of another format, is a UserError naming the file and what to do.
 *
 * @example
 * ```ts
 * const ckpt = await loadCheckpoint('runs/m');
 * await ckpt.restoreOptimizer(optimizer);
 * ```
 */
export async function loadCheckpoint(runDir: string, which: CheckpointChoice = 'latest'): Promise<LoadedCheckpoint> {
  const dir = findCheckpoint(runDir, which);
  if (!dir) {
    throw new UserError(
      which === 'previous' ? `no previous checkpoint in ${runDir}: resume with --resume, or start over by deleting ${runDir}` : `no checkpoint to resume in ${runDir}: start without --resume`,
    );
  }
  verify(dir, runDir, which);
  const raw = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as StateFile;
  const model = await tfl.loadLayersModel(fileHandler(dir));
  const optBytes = readFileSync(join(dir, 'optimizer.bin'));
  const tensorBytes = readFileSync(join(dir, 'tensors.bin'));
  const { optimizer: optInfo, tensors: tensorSpecs, ...state } = raw;
  const tensors = tf.io.decodeWeights(toArrayBuffer(tensorBytes), tensorSpecs);
  return {
    dir,
    model,
    state,
    tensors,
    async restoreOptimizer(optimizer) {
      if (optimizer.getClassName() !== optInfo.class) {
        throw new UserError(`checkpoint in ${runDir} used optimizer ${optInfo.class}, not ${optimizer.getClassName()}: resume with the same --optimizer`);
      }
      const map = tf.io.decodeWeights(toArrayBuffer(optBytes), optInfo.specs);
      const s: OptimizerState = {
        className: optInfo.class,
        weights: optInfo.specs.map((sp) => ({ name: sp.name, tensor: map[sp.name]! })),
        ...(optInfo.accBeta ? { accBeta: optInfo.accBeta } : {}),
      };
      try {
        await restoreOptimizerState(optimizer, s);
      } finally {
        disposeOptimizerState(s);
      }
    },
  };
}
