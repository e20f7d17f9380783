/**
 * What one shard job carries, and its validation. A job names fixed code (a preset or a
 * registered attack) with settings; a worker runs nothing else, and refuses a payload that is
 * not exactly this shape with one line naming the field.
 */
import { attackNames } from '../attacks/registry.js';
import { PRESETS } from '../eval/presets.js';

/** The job format; a worker refuses another. */
export const JOB_VERSION = 1;

/** Where a worker finds the model: a path on shared storage, or bytes stored once in Redis; either way checked against the hash. */
export type ModelRef = { via: 'path'; path: string; sha256: string } | { via: 'redis'; sha256: string };

/** Which examples: a named data set (or a path the worker resolves) and its test split's first `n`, with their hash. */
export interface DataRef {
  dataset: string;
  split: 'test';
  n: number;
  /** SHA-256 of the first n test examples (inputs and labels): a worker with other data refuses the job. */
  sha256: string;
}

interface JobCommon {
  v: typeof JOB_VERSION;
  /** The run id (from every setting the result depends on). */
  run: string;
  chunk: number;
  model: ModelRef;
  data: DataRef;
  threat: string;
  seed: number;
  batchSize: number;
  /** The engine the coordinator runs: every chunk of one result comes from one engine. */
  backend: string;
  /** Example indices into the first n test examples, strictly increasing. */
  indices: number[];
}

/** A chunk of `advtrain eval`: the preset's whole ensemble, per example worst case, on these examples. */
export interface EvalJob extends JobCommon {
  kind: 'eval';
  preset: string;
}

/** A chunk of `advtrain attack`: one registered attack with its flags on these examples. */
export interface AttackJob extends JobCommon {
  kind: 'attack';
  attack: string;
  flags: { steps?: number; restarts?: number; stepSize?: number; loss?: string; queries?: number; params?: Record<string, unknown> };
  targeted: boolean;
  /** Examples to keep for --save-examples (the first attacked ones of the chunk). */
  keep: number;
}

/** One shard job. */
export type ShardJob = EvalJob | AttackJob;

/** The most examples one job may carry (a bound on memory per job). */
export const MAX_JOB_EXAMPLES = 100_000;

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Checks a job's payload field by field and returns it typed; throws an Error whose message is
 * one line naming the first bad field (the job then fails with that message).
 */
export function validateJob(data: unknown): ShardJob {
  const bad = (field: string, why: string): never => {
    throw new Error(`invalid job: ${field} ${why}`);
  };
  if (!data || typeof data !== 'object' || Array.isArray(data)) bad('payload', 'is not an object');
  const j = data as Record<string, unknown>;
  if (j.v !== JOB_VERSION) bad('v', `is ${JSON.stringify(j.v)}, this worker reads job format ${JOB_VERSION}: run the same advtrain version on coordinator and workers`);
  if (typeof j.run !== 'string' || !/^[0-9a-f]{16,64}$/.test(j.run)) bad('run', 'is not a run id');
  if (!Number.isInteger(j.chunk) || (j.chunk as number) < 0) bad('chunk', 'is not a non-negative integer');
  const m = j.model as Record<string, unknown> | undefined;
  if (!m || typeof m !== 'object') bad('model', 'is missing');
  if (typeof m!.sha256 !== 'string' || !HEX64.test(m!.sha256)) bad('model.sha256', 'is not a SHA-256 hex digest');
  if (m!.via === 'path') {
    if (typeof m!.path !== 'string' || m!.path === '') bad('model.path', 'is not a path');
  } else if (m!.via !== 'redis') bad('model.via', `is ${JSON.stringify(m!.via)}, not 'path' or 'redis'`);
  const d = j.data as Record<string, unknown> | undefined;
  if (!d || typeof d !== 'object') bad('data', 'is missing');
  if (typeof d!.dataset !== 'string' || d!.dataset === '') bad('data.dataset', 'is not a data set name');
  if (d!.split !== 'test') bad('data.split', `is ${JSON.stringify(d!.split)}, not 'test'`);
  if (!Number.isInteger(d!.n) || (d!.n as number) < 1) bad('data.n', 'is not a positive integer');
  if (typeof d!.sha256 !== 'string' || !HEX64.test(d!.sha256)) bad('data.sha256', 'is not a SHA-256 hex digest');
  if (typeof j.threat !== 'string' || j.threat === '') bad('threat', 'is not a threat spec');
  if (!Number.isInteger(j.seed)) bad('seed', 'is not an integer');
  if (!Number.isInteger(j.batchSize) || (j.batchSize as number) < 1) bad('batchSize', 'is not a positive integer');
  if (typeof j.backend !== 'string' || j.backend === '') bad('backend', 'is not an engine name');
  const idx = j.indices;
  if (!Array.isArray(idx) || idx.length === 0 || idx.length > MAX_JOB_EXAMPLES) bad('indices', `is not a list of 1 to ${MAX_JOB_EXAMPLES} example indices`);
  const n = d!.n as number;
  for (let k = 0; k < (idx as unknown[]).length; k++) {
    const i = (idx as unknown[])[k];
    if (!Number.isInteger(i) || (i as number) < 0 || (i as number) >= n) bad('indices', `holds ${JSON.stringify(i)}, not an index in [0, ${n})`);
    if (k > 0 && (i as number) <= ((idx as number[])[k - 1] as number)) bad('indices', 'are not strictly increasing');
  }
  if (j.kind === 'eval') {
    if (!PRESETS.includes(j.preset as (typeof PRESETS)[number])) bad('preset', `is ${JSON.stringify(j.preset)}: not one of ${PRESETS.join(', ')}`);
  } else if (j.kind === 'attack') {
    if (typeof j.attack !== 'string' || !attackNames().includes(j.attack)) bad('attack', `is ${JSON.stringify(j.attack)}: unknown attack (known: ${attackNames().join(', ')})`);
    const f = j.flags as Record<string, unknown> | undefined;
    if (!f || typeof f !== 'object' || Array.isArray(f)) bad('flags', 'is not an object');
    for (const [k, v] of Object.entries(f!)) {
      if (k === 'loss') {
        if (typeof v !== 'string') bad('flags.loss', 'is not a string');
      } else if (k === 'params') {
        if (!v || typeof v !== 'object' || Array.isArray(v)) bad('flags.params', 'is not an object');
      } else if (['steps', 'restarts', 'stepSize', 'queries'].includes(k)) {
        if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) bad(`flags.${k}`, 'is not a positive number');
      } else bad(`flags.${k}`, 'is not an attack flag');
    }
    if (typeof j.targeted !== 'boolean') bad('targeted', 'is not a boolean');
    if (!Number.isInteger(j.keep) || (j.keep as number) < 0) bad('keep', 'is not a non-negative integer');
  } else bad('kind', `is ${JSON.stringify(j.kind)}, not 'eval' or 'attack'`);
  return j as unknown as ShardJob;
}
