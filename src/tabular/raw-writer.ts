import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../fsutil.js';
import { parseCsv } from '../data/csv.js';
import { parseArff } from './arff.js';
import { arffRecords } from './phishing.js';
import type { EncodedColumn, TabularEncoding, TabularRecord } from './encoding.js';
import type { TabularDataset } from './tabular-dataset.js';

/**
 * Raw tabular formats records are read from and written back to:
 * - `lines`: no header, the schema's features in order, then the row's other fields (an NSL-KDD
 *   line: 41 features, the attack name, the difficulty);
 * - `arff`: Weka's ARFF, one `@attribute` per feature and one for the label (the phishing file);
 * - `csv`: a header row, then one row per record (the features and the label column).
 */
export type RawFormat = 'lines' | 'arff' | 'csv';

/** Records read from a raw file, encoded for a model. */
export interface TabularRows {
  format: RawFormat;
  records: TabularRecord[];
  /** Per record, the fields that are not features (label, difficulty), as written. */
  tails: string[][];
  /** Per record, its 1-based line in the file. */
  lines: number[];
  /** Model inputs, `records.length × enc.d`. */
  x: Float32Array;
  /** Names of the tail fields (e.g. ['Result']); empty for `lines`. */
  tailNames: string[];
}

/** The format a file name implies: .arff, .csv, anything else `lines`. */
export function formatOfPath(path: string): RawFormat {
  const ext = extname(path).toLowerCase();
  return ext === '.arff' ? 'arff' : ext === '.csv' ? 'csv' : 'lines';
}

function decimals(step: number | undefined): number {
  if (step === undefined || Number.isInteger(step)) return 0;
  const s = String(step);
  return s.includes('e-') ? Number(s.split('e-')[1]) : (s.split('.')[1]?.length ?? 0);
}

/** One raw value as the data set writes it (rates on 0.01 as `0.35`, counts as integers). */
export function formatValue(col: EncodedColumn, v: number | string): string {
  if (col.kind === 'categorical') return String(v);
  const n = Number(v);
  if (col.step !== undefined && col.step > 0 && !Number.isInteger(col.step)) return n.toFixed(decimals(col.step));
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(12)));
}

/**
 * Records in a raw format, as text: `tails` holds each record's non-feature fields (label,
 * difficulty), `tailNames` their names (used by `arff` and `csv` headers) and `tailValues` the
 * values each may take (ARFF's nominal lists; default: the values present in `tails`).
 *
 * @example
 * ```ts
 * const text = formatRecords(enc, records, tails, 'lines'); // NSL-KDD lines
 * ```
 */
export function formatRecords(
  enc: TabularEncoding,
  records: readonly TabularRecord[],
  tails: readonly string[][],
  format: RawFormat,
  tailNames: readonly string[] = [],
  tailValues?: readonly (readonly string[])[],
): string {
  const row = (r: TabularRecord, i: number, sep: string) => [...enc.columns.map((c) => formatValue(c, r[c.name]!)), ...(tails[i] ?? [])].join(sep);
  const body = records.map((r, i) => row(r, i, ',')).join('\n');
  if (format === 'lines') return records.length ? `${body}\n` : '';
  const names = tailNames.length ? tailNames : (tails[0] ?? []).map((_, k) => `field${k + 1}`);
  if (format === 'csv') return `${[...enc.columns.map((c) => c.name), ...names].join(',')}\n${records.length ? `${body}\n` : ''}`;
  const attr = (c: EncodedColumn) => {
    if (c.kind === 'categorical') return `{${c.categories!.join(',')}}`;
    if (c.step !== undefined && (c.max - c.min) / c.step <= 20) {
      const vals: string[] = [];
      for (let v = c.min; v <= c.max + 1e-9; v += c.step) vals.push(formatValue(c, v));
      return `{${vals.join(',')}}`;
    }
    return 'numeric';
  };
  const tailAttrs = names.map((n, k) => `@attribute ${n} {${(tailValues?.[k] ?? [...new Set(tails.map((t) => t[k]!))].sort()).join(',')}}`);
  return [`@relation ${enc.schema.name}`, '', ...enc.columns.map((c) => `@attribute ${c.name} ${attr(c)}`), ...tailAttrs, '', '@data', body, ''].join('\n');
}

/**
 * Writes records in a raw format (see {@link formatRecords}) atomically: a temp file, then rename.
 *
 * @example
 * ```ts
 * const { test } = loadNslKdd();
 * writeRawRecords('copy.txt', test.encoding, test.encoding.decode(test.x), test.tails, 'lines');
 * ```
 */
export function writeRawRecords(path: string, enc: TabularEncoding, records: readonly TabularRecord[], tails: readonly string[][], format: RawFormat = formatOfPath(path), tailNames: readonly string[] = []): void {
  writeFileAtomic(path, formatRecords(enc, records, tails, format, tailNames));
}

/**
 * Reads records from a raw file for a model with encoding `enc` (what `advtrain predict` needs):
 * the format from the extension (.arff, .csv, else headerless `lines` as NSL-KDD writes them).
 * Each value is checked against the schema; a problem is one line naming the file, the line and
 * the field. `labelColumn` names the label in .arff/.csv files (default: the one column that is not a feature).
 *
 * @example
 * ```ts
 * const loaded = await loadModel('runs/nsl-kdd-mlp');
 * const rows = readTabularRecords('adv.txt', loaded.tabular!);
 * const logits = loaded.classifier.logits(tf.tensor2d(rows.x, [rows.records.length, loaded.tabular!.d]));
 * ```
 */
export function readTabularRecords(path: string, enc: TabularEncoding, opts: { labelColumn?: string; format?: RawFormat } = {}): TabularRows {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `records file not found: ${path}; check the path` : `cannot read ${path}: ${(e as Error).message}`);
  }
  return parseTabularRecords(text, path, enc, opts);
}

/**
 * {@link readTabularRecords} on a file's text already in memory (`path` names it in messages and
 * gives the format when `opts.format` does not): what a writer uses to read back exactly what it
 * is about to write.
 *
 * @example
 * ```ts
 * const rows = parseTabularRecords(formatRecords(enc, records, tails, 'lines'), 'adv.txt', enc);
 * ```
 */
export function parseTabularRecords(text: string, path: string, enc: TabularEncoding, opts: { labelColumn?: string; format?: RawFormat } = {}): TabularRows {
  const format = opts.format ?? formatOfPath(path);
  let records: TabularRecord[];
  let tails: string[][];
  let lines: number[];
  let tailNames: string[] = [];
  if (format === 'arff') {
    const arff = parseArff(text, path);
    const extra = arff.attributes.map((a) => a.name).filter((n) => enc.columnIndex(n) === undefined);
    const label = opts.labelColumn ?? (extra.length === 1 ? extra[0]! : undefined);
    if (label === undefined) throw new UserError(`${path}: cannot tell the label attribute (not a feature: ${extra.join(', ') || 'none'}); pass --label-column`);
    const r = arffRecords(arff, enc, label, path);
    [records, lines, tailNames] = [r.records, r.lines, [label]];
    tails = r.labels.map((l) => [l]);
  } else {
    const rows = parseCsv(text, path);
    let idx: number[];
    let tailIdx: number[];
    let body = rows;
    if (format === 'csv') {
      const header = (rows[0]?.fields ?? []).map((h) => h.trim());
      idx = enc.columns.map((c) => {
        const k = header.indexOf(c.name);
        if (k < 0) throw new UserError(`${path} line 1: no column ${c.name} (a feature of schema ${enc.schema.name})`);
        return k;
      });
      tailIdx = header.map((_, k) => k).filter((k) => !idx.includes(k));
      tailNames = tailIdx.map((k) => header[k]!);
      body = rows.slice(1);
    } else {
      idx = enc.columns.map((_, j) => j);
      tailIdx = [];
    }
    records = [];
    tails = [];
    lines = [];
    for (const r of body) {
      if (r.fields.length < enc.columns.length) {
        throw new UserError(`${path} line ${r.line}: expected at least ${enc.columns.length} fields (the features of schema ${enc.schema.name}) but found ${r.fields.length}`);
      }
      const rec: TabularRecord = {};
      enc.columns.forEach((c, j) => {
        const s = r.fields[idx[j]!]!.trim();
        rec[c.name] = c.kind === 'categorical' ? s : s === '' ? NaN : Number(s);
      });
      records.push(rec);
      tails.push(format === 'csv' ? tailIdx.map((k) => r.fields[k] ?? '') : r.fields.slice(enc.columns.length));
      lines.push(r.line);
    }
  }
  const x = enc.encode(records, (i) => `${path} line ${lines[i]}`);
  return { format, records, tails, lines, x, tailNames };
}

/**
 * Writes model inputs as records of a tabular data set, in its own format (an NSL-KDD line, an
 * ARFF row, a CSV row), each with the non-feature fields of the example it came from
 * (`indices[k]` is the data-set index of row k of `x`): what `--save-examples` writes for
 * adversarial records, so anyone can replay and check them. Atomic (temp file, then rename).
 *
 * @example
 * ```ts
 * const { test } = loadNslKdd();
 * writeTabularExamples('first10.txt', test, test.x.slice(0, 10 * test.encoding.d), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
 * ```
 */
export function writeTabularExamples(path: string, ds: TabularDataset, x: Float32Array, indices: readonly number[]): void {
  writeFileAtomic(path, formatTabularExamples(ds, x, indices));
}

/**
 * The text {@link writeTabularExamples} writes: model inputs `x` (one row per entry of
 * `indices`) as records of `ds` in its own format, each with its example's non-feature fields.
 *
 * @example
 * ```ts
 * const text = formatTabularExamples(test, xAdv, [0, 3, 4]);
 * ```
 */
export function formatTabularExamples(ds: TabularDataset, x: Float32Array, indices: readonly number[]): string {
  const enc = ds.encoding;
  if (x.length !== indices.length * enc.d) throw new UserError(`${indices.length} indices but ${x.length / enc.d} rows of model inputs`);
  const tails = indices.map((i) => ds.tails[i] ?? []);
  const values = ds.tailNames.map((_, k) => [...new Set(ds.tails.map((t) => t[k]!))].sort());
  return formatRecords(enc, enc.decode(x), tails, ds.format, ds.tailNames, values);
}
