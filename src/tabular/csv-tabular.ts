import { basename } from 'node:path';
import { UserError } from '../errors.js';
import type { DataSplits } from '../data/dataset.js';
import { shuffledIndices } from '../data/batching.js';
import { deriveSeed, Rng } from '../data/rng.js';
import { TabularEncoding } from './encoding.js';
import { readTabularRecords } from './raw-writer.js';
import { loadSchema } from './schema.js';
import { takeRows, type TabularDataset } from './tabular-dataset.js';

/** Options of {@link loadTabularCsv}. */
export interface TabularCsvOptions {
  /** The schema file describing the table's features. */
  schema: string;
  /** The label column; default the one column that is not a feature. */
  labelColumn?: string;
  /** Seed of the train/test split; default 0. */
  seed?: number;
  /** Share held out for testing; default 0.2. */
  testFraction?: number;
}

/**
 * Loads a user's table (CSV with a header) described by a schema: every record is checked
 * against it (one line naming the row and field otherwise), encoded by it, and split seeded
 * into train and test. Classes are the label column's distinct values, sorted.
 *
 * @example
 * ```ts
 * const { train, test } = loadTabularCsv('flows.csv', { schema: 'flows-schema.json', labelColumn: 'attack' });
 * ```
 */
export function loadTabularCsv(path: string, opts: TabularCsvOptions): DataSplits & { train: TabularDataset; test: TabularDataset } {
  const enc = new TabularEncoding(loadSchema(opts.schema));
  const rows = readTabularRecords(path, enc, { format: 'csv' });
  const label = opts.labelColumn ?? (rows.tailNames.length === 1 ? rows.tailNames[0]! : undefined);
  if (label === undefined) throw new UserError(`${path}: cannot tell the label column (columns that are not features: ${rows.tailNames.join(', ') || 'none'}); pass --label-column`);
  const li = rows.tailNames.indexOf(label);
  if (li < 0) throw new UserError(`${path}: no label column "${label}" among the columns that are not features (${rows.tailNames.join(', ') || 'none'})`);
  if (rows.records.length < 2) throw new UserError(`${path} has ${rows.records.length} record(s): at least 2 are needed for a train/test split`);
  const labels = rows.tails.map((t) => t[li]!.trim());
  const distinct = [...new Set(labels)];
  const numeric = distinct.every((v) => v !== '' && Number.isFinite(Number(v)));
  const classNames = numeric ? distinct.sort((a, b) => Number(a) - Number(b)) : distinct.sort();
  const classOf = new Map(classNames.map((c, i) => [c, i]));
  const all: TabularDataset = {
    name: basename(path),
    x: rows.x,
    y: Int32Array.from(labels, (l) => classOf.get(l)!),
    n: rows.records.length,
    shape: [enc.d],
    numClasses: classNames.length,
    classNames,
    domain: enc.domain(),
    encoding: enc,
    tails: rows.tails,
    lines: Int32Array.from(rows.lines),
    format: 'csv',
    tailNames: rows.tailNames,
  };
  const fraction = opts.testFraction ?? 0.2;
  if (!(fraction > 0 && fraction < 1)) throw new UserError(`test fraction must lie strictly between 0 and 1 (got ${fraction}); e.g. 0.2`);
  const perm = shuffledIndices(all.n, new Rng(deriveSeed(opts.seed ?? 0, 'csv-split')));
  const nTest = Math.min(all.n - 1, Math.max(1, Math.round(all.n * fraction)));
  const sorted = (a: Int32Array) => Array.from(a).sort((p, q) => p - q);
  return { train: takeRows(all, sorted(perm.slice(nTest)), `${all.name}/train`), test: takeRows(all, sorted(perm.slice(0, nTest)), `${all.name}/test`) };
}
