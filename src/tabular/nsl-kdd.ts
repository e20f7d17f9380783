import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
import type { DataSplits } from '../data/dataset.js';
import { TabularEncoding, type TabularRecord } from './encoding.js';
import { loadSchema } from './schema.js';
import { sharedDataDir, type TabularDataset } from './tabular-dataset.js';

/** NSL-KDD's attack categories, in class order of the 5-class labels. */
export const NSL_KDD_CATEGORIES = ['normal', 'DoS', 'Probe', 'R2L', 'U2R'] as const;

/** The usual attack-name → category map (Tavallaee et al. 2009; the data's README). */
export const NSL_KDD_ATTACKS: Readonly<Record<string, (typeof NSL_KDD_CATEGORIES)[number]>> = Object.fromEntries([
  ...['back', 'land', 'neptune', 'pod', 'smurf', 'teardrop', 'apache2', 'mailbomb', 'processtable', 'udpstorm'].map((a) => [a, 'DoS']),
  ...['ipsweep', 'nmap', 'portsweep', 'satan', 'mscan', 'saint'].map((a) => [a, 'Probe']),
  ...['ftp_write', 'guess_passwd', 'imap', 'multihop', 'phf', 'spy', 'warezclient', 'warezmaster', 'named', 'sendmail', 'snmpgetattack', 'snmpguess', 'xlock', 'xsnoop', 'worm', 'httptunnel'].map((a) => [a, 'R2L']),
  ...['buffer_overflow', 'loadmodule', 'perl', 'rootkit', 'ps', 'sqlattack', 'xterm'].map((a) => [a, 'U2R']),
  ['normal', 'normal'],
]) as Record<string, (typeof NSL_KDD_CATEGORIES)[number]>;

/** Path of a schema shipped in the package's `schemas/` folder. */
export function shippedSchemaPath(name: string): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'schemas', `${name}.json`);
}

/** Records of an NSL-KDD file: the 41 features, and each row's label and difficulty fields. */
export interface NslKddRows {
  records: TabularRecord[];
  /** Per row: [label (attack name or normal), difficulty]. */
  tails: string[][];
  lines: number[];
}

/**
 * Reads an NSL-KDD file (43 comma-separated fields, no header). A row with the wrong number of
 * fields, a non-number in a numeric field or an unknown attack name is refused in one line
 * naming the file, the line and the field.
 *
 * @example
 * ```ts
 * const { records, tails } = readNslKdd('KDDTest+.txt', new TabularEncoding(loadSchema(shippedSchemaPath('nsl-kdd'))));
 * ```
 */
export function readNslKdd(path: string, enc: TabularEncoding): NslKddRows {
  const out: NslKddRows = { records: [], tails: [], lines: [] };
  scanNslKdd(path, enc, (f, line, where) => {
    const r: TabularRecord = {};
    enc.columns.forEach((c, j) => {
      const s = f[j]!.trim();
      if (c.kind === 'categorical') r[c.name] = s;
      else {
        const v = s === '' ? NaN : Number(s);
        if (!Number.isFinite(v)) throw new UserError(`${where}, field ${c.name}: ${JSON.stringify(s)} is not a number`);
        r[c.name] = v;
      }
    });
    out.records.push(r);
    out.tails.push(f.slice(enc.columns.length));
    out.lines.push(line);
  });
  return out;
}

/** Each row of an NSL-KDD file, split and checked for its field count and attack name. */
function scanNslKdd(path: string, enc: TabularEncoding, onRow: (fields: string[], line: number, where: string) => void): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `NSL-KDD file not found: ${path}; pass the folder holding KDDTrain+_20Percent.txt and KDDTest+.txt` : `cannot read ${path}: ${(e as Error).message}`);
  }
  const want = enc.columns.length + 2;
  let rows = 0;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const f = line.split(',');
    const where = `${path} line ${i + 1}`;
    if (f.length !== want) throw new UserError(`${where}: expected ${want} comma-separated fields (41 features, label, difficulty) but found ${f.length}`);
    f[want - 2] = f[want - 2]!.trim();
    f[want - 1] = f[want - 1]!.trim();
    if (!(f[want - 2]! in NSL_KDD_ATTACKS)) throw new UserError(`${where}, field label: unknown attack name ${JSON.stringify(f[want - 2])}; known: ${Object.keys(NSL_KDD_ATTACKS).join(', ')}`);
    onRow(f, i + 1, where);
    rows++;
  }
  if (rows === 0) throw new UserError(`${path} holds no records`);
}

/** An NSL-KDD file straight into model inputs (no record objects), with each row's label fields and line. */
function encodeNslKdd(path: string, enc: TabularEncoding): { x: Float32Array; tails: string[][]; lines: number[] } {
  let x = new Float32Array(1024 * enc.d);
  const tails: string[][] = [];
  const lines: number[] = [];
  scanNslKdd(path, enc, (f, line, where) => {
    const k = lines.length;
    if ((k + 1) * enc.d > x.length) {
      const grown = new Float32Array(x.length * 2);
      grown.set(x);
      x = grown;
    }
    enc.encodeRow(f, x.subarray(k * enc.d, (k + 1) * enc.d), where);
    tails.push(f.slice(enc.columns.length));
    lines.push(line);
  });
  return { x: x.slice(0, lines.length * enc.d), tails, lines };
}

/** Options of {@link loadNslKdd}. */
export interface NslKddOptions {
  /** 'binary' (normal / attack) or '5-class' (normal, DoS, Probe, R2L, U2R); default binary. */
  classes?: 'binary' | '5-class';
  /** Folder of the files; default the shared data folder's `nsl-kdd`. */
  dir?: string;
  /** Training file (in `dir` unless absolute); default KDDTrain+_20Percent.txt (KDDTrain+.txt works too). */
  train?: string;
  /** Test file; default KDDTest+.txt (KDDTest-21.txt is the hard subset). */
  test?: string;
  /** Schema; default the shipped `schemas/nsl-kdd.json`. */
  schema?: string;
}

/**
 * Loads NSL-KDD as a train/test pair of {@link TabularDataset}s, encoded by the schema, each
 * record checked against it (a value outside the schema is refused in one line). `groups`
 * holds every record's attack category.
 *
 * @example
 * ```ts
 * const { train, test } = loadNslKdd({ classes: '5-class', test: 'KDDTest-21.txt' });
 * ```
 */
export function loadNslKdd(opts: NslKddOptions = {}): DataSplits & { train: TabularDataset; test: TabularDataset } {
  const dir = opts.dir ?? join(sharedDataDir(), 'nsl-kdd');
  const enc = new TabularEncoding(loadSchema(opts.schema ?? shippedSchemaPath('nsl-kdd')));
  const classes = opts.classes ?? 'binary';
  const at = (f: string) => (f.startsWith('/') ? f : join(dir, f));
  const make = (file: string, part: string): TabularDataset => {
    const path = at(file);
    const rows = encodeNslKdd(path, enc);
    const x = rows.x;
    const cats = rows.tails.map((t) => NSL_KDD_ATTACKS[t[0]!]!);
    const groups = Int32Array.from(cats, (c) => NSL_KDD_CATEGORIES.indexOf(c));
    const y = classes === 'binary' ? Int32Array.from(cats, (c) => (c === 'normal' ? 0 : 1)) : groups.slice();
    return {
      name: `nsl-kdd${classes === 'binary' ? '' : '-5'}/${part} (${basename(path)})`,
      x,
      y,
      n: rows.lines.length,
      shape: [enc.d],
      numClasses: classes === 'binary' ? 2 : 5,
      classNames: classes === 'binary' ? ['normal', 'attack'] : [...NSL_KDD_CATEGORIES],
      domain: enc.domain(),
      encoding: enc,
      tails: rows.tails,
      lines: Int32Array.from(rows.lines),
      format: 'lines',
      tailNames: ['label', 'difficulty'],
      groups,
      groupNames: [...NSL_KDD_CATEGORIES],
    };
  };
  return { train: make(opts.train ?? 'KDDTrain+_20Percent.txt', 'train'), test: make(opts.test ?? 'KDDTest+.txt', 'test') };
}
