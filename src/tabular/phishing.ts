import { basename, join } from 'node:path';
import { UserError } from '../errors.js';
import type { DataSplits } from '../data/dataset.js';
import { deriveSeed, Rng } from '../data/rng.js';
import { shuffledIndices } from '../data/batching.js';
import { TabularEncoding, type TabularRecord } from './encoding.js';
import { readArff, type ArffFile } from './arff.js';
import { loadSchema } from './schema.js';
import { shippedSchemaPath } from './nsl-kdd.js';
import { sharedDataDir, type TabularDataset } from './tabular-dataset.js';

/** Options of {@link loadPhishing}. */
export interface PhishingOptions {
  /** The ARFF file; default the shared data folder's `phishing-websites/Training_Dataset.arff`. */
  path?: string;
  /** Schema; default the shipped `schemas/phishing.json`. */
  schema?: string;
  /** Seed of the split; default 0. */
  seed?: number;
  /** Share of the distinct feature vectors held out for testing; default 0.2. */
  testFraction?: number;
}

/** Label column of the phishing ARFF file and its class names (class 1, phishing, is the "attack"). */
export const PHISHING_LABEL = 'Result';
export const PHISHING_CLASSES = ['legitimate', 'phishing'];

/**
 * The records of a parsed ARFF file whose attributes are the schema's features plus a label
 * column, in any order; an attribute the schema lacks (or the reverse) is refused in one line.
 */
export function arffRecords(arff: ArffFile, enc: TabularEncoding, labelColumn: string, source: string): { records: TabularRecord[]; labels: string[]; lines: number[] } {
  const names = arff.attributes.map((a) => a.name);
  const li = names.indexOf(labelColumn);
  if (li < 0) throw new UserError(`${source}: no label attribute "${labelColumn}" (attributes: ${names.join(', ')})`);
  for (const c of enc.columns) if (!names.includes(c.name)) throw new UserError(`${source}: attribute ${c.name} of schema ${enc.schema.name} is missing`);
  for (const n of names) if (n !== labelColumn && enc.columnIndex(n) === undefined) throw new UserError(`${source}: attribute ${n} is not in schema ${enc.schema.name}; add it to the schema or drop it`);
  const at = enc.columns.map((c) => names.indexOf(c.name));
  const records = arff.rows.map((r) => {
    const rec: TabularRecord = {};
    enc.columns.forEach((c, j) => {
      const v = r.fields[at[j]!]!;
      rec[c.name] = c.kind === 'categorical' ? v : Number(v);
    });
    return rec;
  });
  return { records, labels: arff.rows.map((r) => r.fields[li]!), lines: arff.rows.map((r) => r.line) };
}

/**
 * Loads the UCI Phishing Websites data (11,055 rows, 30 features in {−1, 0, 1}): duplicate rows
 * removed (5,849 remain), then a seeded split by feature vector — a vector seen with both labels
 * stays on one side — so no test record is also a training record.
 *
 * @example
 * ```ts
 * const { train, test } = loadPhishing({ seed: 0 });
 * ```
 */
export function loadPhishing(opts: PhishingOptions = {}): DataSplits & { train: TabularDataset; test: TabularDataset } {
  const path = opts.path ?? join(sharedDataDir(), 'phishing-websites', 'Training_Dataset.arff');
  const enc = new TabularEncoding(loadSchema(opts.schema ?? shippedSchemaPath('phishing')));
  const { records, labels, lines } = arffRecords(readArff(path), enc, PHISHING_LABEL, path);
  const x = enc.encode(records, (i) => `${path} line ${lines[i]}`);
  const d = enc.d;
  // Distinct rows, grouped by feature vector.
  const groups = new Map<string, number[]>();
  const seenRows = new Set<string>();
  for (let i = 0; i < records.length; i++) {
    const key = Array.from(x.subarray(i * d, (i + 1) * d)).join(',');
    const row = `${key}|${labels[i]}`;
    if (seenRows.has(row)) continue;
    seenRows.add(row);
    const g = groups.get(key);
    if (g) g.push(i);
    else groups.set(key, [i]);
  }
  const keys = [...groups.keys()];
  const fraction = opts.testFraction ?? 0.2;
  if (!(fraction > 0 && fraction < 1)) throw new UserError(`test fraction must lie strictly between 0 and 1 (got ${fraction})`);
  const perm = shuffledIndices(keys.length, new Rng(deriveSeed(opts.seed ?? 0, 'phishing-split')));
  const nTest = Math.round(keys.length * fraction);
  const pick = (from: number, to: number) =>
    Array.from(perm.slice(from, to))
      .flatMap((k) => groups.get(keys[k]!)!)
      .sort((a, b) => a - b);
  const make = (idx: number[], part: string): TabularDataset => {
    const xs = new Float32Array(idx.length * d);
    idx.forEach((i, k) => xs.set(x.subarray(i * d, (i + 1) * d), k * d));
    return {
      name: `phishing/${part} (${basename(path)})`,
      x: xs,
      y: Int32Array.from(idx, (i) => (labels[i] === '-1' ? 1 : 0)),
      n: idx.length,
      shape: [d],
      numClasses: 2,
      classNames: [...PHISHING_CLASSES],
      domain: enc.domain(),
      encoding: enc,
      tails: idx.map((i) => [labels[i]!]),
      lines: Int32Array.from(idx, (i) => lines[i]!),
      format: 'arff',
      tailNames: [PHISHING_LABEL],
    };
  };
  return { train: make(pick(nTest, keys.length), 'train'), test: make(pick(0, nTest), 'test') };
}
