import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Dataset } from '../data/dataset.js';
import type { TabularEncoding } from './encoding.js';

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
  /** Optional finer grouping for per-group figures (NSL-KDD: the attack category of each record, index into `groupNames`). */
  groups?: Int32Array;
  groupNames?: string[];
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
