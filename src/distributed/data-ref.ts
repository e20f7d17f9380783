/**
 * Data travels by reference: a data set name (or a path every machine sees) and the first n test
 * examples, with a hash of those examples that a worker checks before it attacks them.
 */
import { createHash } from 'node:crypto';
import type { Dataset } from '../data/dataset.js';
import { loadDataset } from '../data/index.js';
import { subset } from '../data/batching.js';
import type { DataRef } from './job.js';

/**
 * SHA-256 (hex) of a data set's examples: their shape, inputs and labels.
 *
 * @example
 * ```ts
 * dataDigest(subset(test, 1000)); // '9c1f…'
 * ```
 */
export function dataDigest(ds: Dataset): string {
  return createHash('sha256')
    .update(JSON.stringify({ shape: ds.shape, n: ds.n, numClasses: ds.numClasses }))
    .update(new Uint8Array(ds.x.buffer, ds.x.byteOffset, ds.x.byteLength))
    .update(new Uint8Array(ds.y.buffer, ds.y.byteOffset, ds.y.byteLength))
    .digest('hex');
}

/** The reference a job carries for the first n test examples of a named data set. */
export function dataRef(dataset: string, ds: Dataset): DataRef {
  return { dataset, split: 'test', n: ds.n, sha256: dataDigest(ds) };
}

const loaded = new Map<string, Promise<Dataset>>();
const verified = new Set<string>();

/** Loads a data set's test split into the worker's cache ahead of its first job (`--preload`). */
export function preloadData(dataset: string): Promise<Dataset> {
  let p = loaded.get(dataset);
  if (!p) {
    p = loadDataset(dataset).then((s) => s.test);
    loaded.set(dataset, p);
    p.catch(() => loaded.delete(dataset));
  }
  return p;
}

/**
 * The examples a job names, loaded once per worker and verified against the job's hash: a
 * worker whose copy differs (another CSV at the path, another version of the data) refuses.
 */
export async function resolveData(ref: DataRef): Promise<Dataset> {
  const test = await preloadData(ref.dataset);
  if (ref.n > test.n) throw new Error(`data ${ref.dataset} has ${test.n} test examples on this worker, the job asks for the first ${ref.n}: the worker's copy differs from the coordinator's`);
  const ds = subset(test, ref.n);
  const key = `${ref.dataset}\n${ref.n}\n${ref.sha256}`;
  if (!verified.has(key)) {
    const got = dataDigest(ds);
    if (got !== ref.sha256) throw new Error(`data hash mismatch: the first ${ref.n} test examples of ${ref.dataset} on this worker hash to ${got.slice(0, 16)}…, the run's to ${ref.sha256.slice(0, 16)}…: give workers the same data as the coordinator`);
    verified.add(key);
  }
  return ds;
}
