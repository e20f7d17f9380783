import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { UserError } from '../errors.js';
import type { Dataset } from './dataset.js';
import type { Domain, IntegerFeature, OneHotGroup } from './domain.js';

/** One CSV record and the (1-based) line it starts on. */
export interface CsvRecord {
  fields: string[];
  line: number;
}

/**
 * Parses CSV text (RFC 4180: comma-separated, `"quoted, fields"`, `""` for a quote inside
 * quotes, CRLF or LF line ends, quoted fields may span lines). Blank lines are skipped and a
 * UTF-8 byte-order mark is ignored. `source` names the text in error messages.
 *
 * @example
 * ```ts
 * parseCsv('a,b\n1,"x, ""y"""\n'); // [{fields:['a','b'],line:1}, {fields:['1','x, "y"'],line:2}]
 * ```
 */
export function parseCsv(text: string, source = '<csv>'): CsvRecord[] {
  const records: CsvRecord[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  const n = text.length;
  while (i < n) {
    const startLine = line;
    const fields: string[] = [];
    for (;;) {
      let field = '';
      if (text[i] === '"') {
        const quoteLine = line;
        i++;
        for (;;) {
          if (i >= n) throw new UserError(`${source} line ${quoteLine}: a quoted field is never closed; add the closing "`);
          const ch = text[i]!;
          if (ch === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (ch === '\n') line++;
          field += ch;
          i++;
        }
        if (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
          throw new UserError(
            `${source} line ${line}: unexpected ${JSON.stringify(text[i])} after a closing quote; write "" for a quote inside a quoted field`,
          );
        }
      } else {
        const start = i;
        while (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') i++;
        field = text.slice(start, i);
      }
      fields.push(field);
      if (i < n && text[i] === ',') {
        i++;
        continue;
      }
      break;
    }
    // end of record: CRLF, LF, lone CR or end of text
    if (text[i] === '\r') i++;
    if (text[i] === '\n') i++;
    line++;
    if (!(fields.length === 1 && fields[0] === '')) records.push({ fields, line: startLine });
  }
  return records;
}

/** How one input column became features. */
export interface CsvColumn {
  name: string;
  kind: 'numeric' | 'categorical';
  /** Categories in one-hot order (sorted), for categorical columns. */
  categories?: string[];
  /** Numeric columns whose values are all whole numbers (and not all equal): the domain keeps them on their integer grid. */
  integer?: boolean;
  /** Named in {@link CsvOptions.immutable}: attacks keep its clean value. */
  immutable?: boolean;
  /** Index of the column's first feature and its number of features (1, or one per category). */
  offset: number;
  width: number;
}

/** Everything needed to encode new rows the same way and to read features in original units. */
export interface CsvEncoding {
  labelColumn: string;
  /** Input columns in file order (the label column excluded). */
  columns: CsvColumn[];
  /** One name per feature: `col` for numeric, `col=category` for one-hot features. */
  featureNames: string[];
  /** Per-feature minimum and maximum before scaling (one-hot features: 0 and 1). */
  min: Float32Array;
  max: Float32Array;
}

/** A data set loaded from CSV, with the encoding that produced its features. */
export interface CsvDataset extends Dataset {
  encoding: CsvEncoding;
}

/** Options of {@link loadCsv}. */
export interface CsvOptions {
  /** Name of the label column; default: the last column. */
  labelColumn?: string;
  /** Columns to one-hot encode even if they look numeric (e.g. numeric codes). */
  categorical?: string[];
  /** Data-set name; default: the file's base name. */
  name?: string;
  /** Columns an attacker cannot change (their features keep the clean values under attack). */
  immutable?: string[];
}

function toNumber(s: string): number | null {
  const t = s.trim();
  if (t === '') return null;
  const v = Number(t);
  return Number.isFinite(v) ? v : null;
}

const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Loads a CSV file with a header row as a tabular {@link CsvDataset}.
 *
 * - Label: the column named `labelColumn` (default: last); classes are its distinct values,
 *   sorted (numerically if all are numbers, otherwise by string), and `y` indexes them.
 * - A column is numeric when more than half of its values are numbers; a non-number in such a
 *   column is an error (name it in `categorical` to one-hot encode it instead). Other columns
 *   are categorical and one-hot encoded, categories sorted.
 * - Every feature is min-max scaled to [0, 1] using the whole file (min and max are kept in
 *   `encoding`); a constant feature becomes 0.
 * - The domain is [0, 1] per feature, with the column types: a numeric column of whole numbers
 *   stays on its integer grid (step 1/(max − min) after scaling), each categorical column is a
 *   one-hot group, and the `immutable` columns keep their clean values under attack.
 *
 * @example
 * ```ts
 * const ds = loadCsv('flows.csv', { labelColumn: 'attack' });
 * console.log(ds.encoding.featureNames, ds.classNames);
 * ```
 */
export function loadCsv(path: string, opts: CsvOptions = {}): CsvDataset {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`CSV file not found: ${path}; check the path`);
    throw new UserError(`cannot read CSV file ${path}: ${(e as Error).message}`);
  }
  if (text.trim() === '') throw new UserError(`${path} is empty; expected a header row, then one row per example`);
  return csvToDataset(parseCsv(text, path), { ...opts, name: opts.name ?? basename(path) }, path);
}

/**
 * Builds a {@link CsvDataset} from parsed records (header first); see {@link loadCsv} for the rules.
 *
 * @example
 * ```ts
 * const ds = csvToDataset(parseCsv('x,color,label\n1,red,a\n2,blue,b\n'), { name: 'toy' });
 * ```
 */
export function csvToDataset(records: CsvRecord[], opts: CsvOptions = {}, source = opts.name ?? '<csv>'): CsvDataset {
  const [head, ...rows] = records;
  if (head === undefined) throw new UserError(`${source} is empty; expected a header row, then one row per example`);
  if (rows.length === 0) throw new UserError(`${source} has a header but no data rows; add at least one example`);
  const header = head.fields.map((h) => h.trim());
  const seen = new Set<string>();
  for (const h of header) {
    if (seen.has(h)) throw new UserError(`${source} line ${head.line}: column name "${h}" appears twice; rename one`);
    seen.add(h);
  }
  for (const r of rows) {
    if (r.fields.length !== header.length) {
      throw new UserError(
        `${source} line ${r.line}: expected ${header.length} fields (as in the header) but found ${r.fields.length}; fix that row (quote fields that contain commas)`,
      );
    }
  }
  const labelColumn = opts.labelColumn ?? header[header.length - 1]!;
  const labelIdx = header.indexOf(labelColumn);
  if (labelIdx < 0) {
    throw new UserError(`${source}: no label column "${labelColumn}"; choose one of: ${header.join(', ')}`);
  }
  for (const c of opts.categorical ?? []) {
    if (!header.includes(c)) throw new UserError(`${source}: categorical column "${c}" is not in the header (${header.join(', ')})`);
  }
  for (const c of opts.immutable ?? []) {
    if (!header.includes(c) || c === labelColumn) {
      throw new UserError(`${source}: immutable column "${c}" is not a feature column (${header.filter((h) => h !== labelColumn).join(', ')})`);
    }
  }
  if (header.length < 2) throw new UserError(`${source} has only the label column; add feature columns`);

  // Decide column kinds (each value is parsed once) and build the encoding.
  const n = rows.length;
  const columns: CsvColumn[] = [];
  const featureNames: string[] = [];
  const numericValues = new Map<number, Float64Array>();
  header.forEach((name, j) => {
    if (j === labelIdx) return;
    const forced = opts.categorical?.includes(name) ?? false;
    const parsed = new Float64Array(n);
    let numbers = 0;
    if (!forced) {
      for (let k = 0; k < n; k++) {
        const v = toNumber(rows[k]!.fields[j]!);
        parsed[k] = v ?? NaN;
        if (v !== null) numbers++;
      }
    }
    if (!forced && numbers * 2 > n) {
      const bad = parsed.findIndex((v) => Number.isNaN(v));
      if (bad >= 0) {
        const r = rows[bad]!;
        throw new UserError(
          `${source} line ${r.line}, column "${name}": ${JSON.stringify(r.fields[j])} is not a number ` +
            `(the column is numeric: ${numbers} of ${n} values are); fix the value or pass it as a categorical column`,
        );
      }
      numericValues.set(j, parsed);
      const whole = parsed.every((v) => Number.isInteger(v)) && parsed.some((v) => v !== parsed[0]);
      columns.push({ name, kind: 'numeric', offset: featureNames.length, width: 1, ...(whole ? { integer: true } : {}) });
      featureNames.push(name);
    } else {
      const categories = [...new Set(rows.map((r) => r.fields[j]!))].sort(compareStrings);
      columns.push({ name, kind: 'categorical', categories, offset: featureNames.length, width: categories.length });
      for (const c of categories) featureNames.push(`${name}=${c}`);
    }
  });

  const d = featureNames.length;
  const raw = new Float64Array(n * d);
  columns.forEach((col) => {
    const j = header.indexOf(col.name);
    const values = numericValues.get(j);
    if (values !== undefined) {
      for (let k = 0; k < n; k++) raw[k * d + col.offset] = values[k]!;
    } else {
      const index = new Map(col.categories!.map((c, i) => [c, i]));
      for (let k = 0; k < n; k++) raw[k * d + col.offset + index.get(rows[k]!.fields[j]!)!] = 1;
    }
  });
  const min = new Float64Array(d).fill(Infinity);
  const max = new Float64Array(d).fill(-Infinity);
  for (let k = 0; k < n; k++) {
    for (let f = 0; f < d; f++) {
      const v = raw[k * d + f]!;
      if (v < min[f]!) min[f] = v;
      if (v > max[f]!) max[f] = v;
    }
  }
  const x = new Float32Array(n * d);
  for (let k = 0; k < n; k++) {
    for (let f = 0; f < d; f++) {
      const span = max[f]! - min[f]!;
      x[k * d + f] = span > 0 ? Math.min(1, Math.max(0, (raw[k * d + f]! - min[f]!) / span)) : 0;
    }
  }

  const labels = rows.map((r) => r.fields[labelIdx]!.trim());
  const distinct = [...new Set(labels)];
  const numeric = distinct.every((v) => toNumber(v) !== null);
  const classNames = numeric ? distinct.sort((a, b) => toNumber(a)! - toNumber(b)!) : distinct.sort(compareStrings);
  const classOf = new Map(classNames.map((c, i) => [c, i]));
  const y = Int32Array.from(labels, (l) => classOf.get(l)!);
  for (const c of columns) if (opts.immutable?.includes(c.name)) c.immutable = true;

  return {
    name: opts.name ?? source,
    x,
    y,
    n,
    shape: [d],
    numClasses: classNames.length,
    classNames,
    domain: csvDomain(columns, d, min, max),
    encoding: { labelColumn, columns, featureNames, min: Float32Array.from(min), max: Float32Array.from(max) },
  };
}

/** The feasible set of the scaled features: the unit box per feature, with the columns' types. */
function csvDomain(columns: CsvColumn[], d: number, min: Float64Array, max: Float64Array): Domain {
  const integers: IntegerFeature[] = [];
  const oneHot: OneHotGroup[] = [];
  const immutable: number[] = [];
  for (const c of columns) {
    if (c.integer) integers.push({ index: c.offset, step: 1 / (max[c.offset]! - min[c.offset]!) });
    if (c.kind === 'categorical') oneHot.push({ offset: c.offset, width: c.width, name: c.name });
    if (c.immutable) for (let f = c.offset; f < c.offset + c.width; f++) immutable.push(f);
  }
  return {
    lower: new Float32Array(d),
    upper: new Float32Array(d).fill(1),
    ...(integers.length ? { integers } : {}),
    ...(oneHot.length ? { oneHot } : {}),
    ...(immutable.length ? { immutable } : {}),
  };
}

/**
 * Maps scaled features (in [0, 1]) back to the file's units: `min + x * (max - min)` per feature.
 *
 * @example
 * ```ts
 * const original = unscaleFeatures(ds.encoding, ds.x.subarray(0, ds.shape[0]));
 * ```
 */
export function unscaleFeatures(encoding: CsvEncoding, x: Float32Array): Float32Array {
  const d = encoding.min.length;
  if (x.length % d !== 0) throw new UserError(`feature array of length ${x.length} is not a whole number of ${d}-feature rows`);
  return x.map((v, i) => encoding.min[i % d]! + v * (encoding.max[i % d]! - encoding.min[i % d]!));
}
