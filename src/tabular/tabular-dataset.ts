import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Dataset } from '../data/dataset.js';
import { TabularEncoding } from './encoding.js';
import type { RawFormat } from './raw-writer.js';

/**
 * A tabular {@link Dataset} that remembers how its rows were made: the encoding (schema,
 * scaling, the Domain) and, per example, the file's fields that are not features (an NSL-KDD
 * record's attack name and difficulty, an ARFF row's label) so records can be written back in
 * the data set's own format.
 *
 * @example
 * ```ts
 * const { test } = loadNslKdd({ classes: 'binary' });
 * const [first] = test.encoding.decode(test.x.subarray(0, test.encoding.d));
 * ```
 */
export interface TabularDataset extends Dataset {
  encoding: TabularEncoding;
  /** Per example, the non-feature fields of its row, as written in the file. */
  tails: string[][];
  /** Per example, the line of the file it came from (1-based). */
  lines: Int32Array;
  /** The file's format, in which records are written back, and the names of its tail fields. */
  format: RawFormat;
  tailNames: string[];
  /** Optional finer grouping for per-group figures (NSL-KDD: the attack category of each record, index into `groupNames`). */
  groups?: Int32Array;
  groupNames?: string[];
}

/**
 * The examples `idx` of a tabular data set (features, labels, tails, lines, groups), in that order.
 *
 * @example
 * ```ts
 * const first100 = takeRows(test, Array.from({ length: 100 }, (_, i) => i), 'test[0:100]');
 * ```
 */
export function takeRows(ds: TabularDataset, idx: readonly number[], name = ds.name): TabularDataset {
  const d = ds.encoding.d;
  const x = new Float32Array(idx.length * d);
  idx.forEach((i, k) => x.set(ds.x.subarray(i * d, (i + 1) * d), k * d));
  return {
    ...ds,
    name,
    x,
    y: Int32Array.from(idx, (i) => ds.y[i]!),
    n: idx.length,
    tails: idx.map((i) => ds.tails[i]!),
    lines: Int32Array.from(idx, (i) => ds.lines[i]!),
    ...(ds.groups ? { groups: Int32Array.from(idx, (i) => ds.groups![i]!) } : {}),
  };
}

/**
 * The files a model trained on `ds` carries beside model.json (see `ModelMetadata.files`):
 * `tabular.json` for a tabular data set, nothing otherwise.
 *
 * @example
 * ```ts
 * await saveModel('runs/m', model, { ...metadata, files: modelFilesFor(data.train) });
 * ```
 */
export function modelFilesFor(ds: Dataset): Record<string, string> {
  const enc = (ds as Partial<TabularDataset>).encoding;
  return enc instanceof TabularEncoding ? { 'tabular.json': `${JSON.stringify(enc.toJSON(), null, 1)}\n` } : {};
}

/**
 * The shared data folder: `$ADVTRAIN_DATA` when set, else the first `shared/data` found in the
 * package's folder or above it.
 */
export function sharedDataDir(): string {
  const env = process.env.ADVTRAIN_DATA;
  if (env) return env;
  let dir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'shared', 'data');
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'), '..', 'shared', 'data');
}
