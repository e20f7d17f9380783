import * as tf from '@tensorflow/tfjs-core';
import { nativeKernelsRegistered } from '../engine/native/index.js';
import { runtimeVersions } from '../version.js';

/** The engine a result was computed on: the tfjs backend ('native' for wasm with advtrain's oneDNN kernels) and its threads. */
export interface ResultEngine {
  backend: string;
  threads?: number;
}

/**
 * The fields every advtrain result file (eval, attack and transfer, on images, tables and texts)
 * starts with: what it is, when it was made, by which software on which engine, with which seed.
 *
 * @example
 * ```ts
 * const head: ResultHeader<'advtrain/eval@2'> = resultHeader('advtrain/eval@2', 0);
 * ```
 */
export interface ResultHeader<S extends string> {
  /** The file's schema, e.g. `advtrain/eval@2`. */
  schema: S;
  /** When the result was made, ISO 8601. */
  created: string;
  /** Versions of the software that produced it. */
  versions: { advtrain: string; tfjs: string; node: string };
  engine: ResultEngine;
  /** Seed of every random choice of the run. */
  seed: number;
}

/** The engine running now: 'native' is the wasm backend with advtrain's oneDNN kernels registered. */
export function runningEngine(): ResultEngine {
  const backend = tf.getBackend();
  return { backend: backend === 'wasm' && nativeKernelsRegistered() ? 'native' : backend };
}

/** Where a result's engine and versions come from when not the running ones (the CLI passes the engine it started, with its threads). */
export interface ResultSource {
  engine?: ResultEngine;
  versions?: ResultHeader<string>['versions'];
}

/**
 * The run stamp of a result made now — seed, engine, versions, creation time, in the order the
 * attack and transfer files (`advtrain/attack@1`, `advtrain/transfer@1`) end with; `engine` and
 * `versions` default to the running ones.
 *
 * @example
 * ```ts
 * const result = { schema: ATTACK_SCHEMA, model: { path: o.model }, …, ...resultStamp(o.seed, { engine }) };
 * ```
 */
export function resultStamp(seed: number, from: ResultSource = {}): Omit<ResultHeader<string>, 'schema'> {
  return { seed, engine: from.engine ?? runningEngine(), versions: from.versions ?? runtimeVersions(), created: new Date().toISOString() };
}

/**
 * The header an evaluation file (`advtrain/eval@2`, every domain) starts with: the schema, then
 * the {@link resultStamp} fields in the eval file's order.
 *
 * @example
 * ```ts
 * const result: EvalResultV2 = { ...resultHeader(EVAL_SCHEMA, seed, o.describe), model: { path: 'memory' }, … };
 * ```
 */
export function resultHeader<S extends string>(schema: S, seed: number, from: ResultSource = {}): ResultHeader<S> {
  const s = resultStamp(seed, from);
  return { schema, created: s.created, versions: s.versions, engine: s.engine, seed };
}
