import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { PNG } from 'pngjs';
import { UserError } from '../errors.js';
import { readIdx } from '../data/idx.js';
import { readTabularJson, TABULAR_JSON } from '../model/io.js';
import { readTabularRecords } from '../tabular/raw-writer.js';
import { parseCsv } from '../data/csv.js';

/**
 * One input to classify: a raw text for text models, or one example's features (in the model's
 * input space, flat, row-major) for every other model.
 */
export type PredictInput = { id: string | number; text: string } | { id: string | number; x: Float32Array };

/** What a reader knows about the model it reads for. */
export interface ReaderContext {
  /** Shape of one input (features models). */
  inputShape: number[];
  /** The folder of the model (e.g. for a tabular model's stored column encoding). */
  modelDir: string;
  /** JSONL: the field holding the text (--field). */
  field?: string;
  /** CSV: the column holding the text (--text-column). */
  textColumn?: string;
}

/**
 * Reads one kind of input file for `advtrain predict`. Readers are tried in order; the first that
 * accepts a file and produces what the model reads is used. A reader with `fits` reads for the
 * models it fits only, and for those models it is the only kind tried (tabular records for a
 * model saved with tabular.json): the other models never see it.
 */
export interface InputReader {
  /** Short name for messages, e.g. 'JSONL'. */
  readonly name: string;
  /** What it produces: texts for text models, features for the others. */
  readonly produces: 'text' | 'features';
  /** Whether it reads for the model saved in `modelDir` (absent: any model that reads what it produces). */
  fits?(modelDir: string): boolean;
  /** Whether it reads this path (by extension, or being a folder). */
  accepts(path: string): boolean;
  /** All inputs of the file; one line naming the file and the place otherwise. */
  read(path: string, ctx: ReaderContext): PredictInput[];
}

const DEFAULT_FIELDS = ['text', 'adversarial', 'message', 'original'];

/** JSONL: one JSON object per line, its text in --field (default: text, adversarial, message, original — the first present); its id the object's "index" or "id" when it has one. A line may also be a JSON string. */
const jsonlReader: InputReader = {
  name: 'JSONL',
  produces: 'text',
  accepts: (p) => /\.(jsonl|ndjson)$/i.test(p),
  read(path, ctx) {
    const out: PredictInput[] = [];
    readText(path)
      .split('\n')
      .forEach((line, i) => {
        if (line.trim() === '') return;
        let v: unknown;
        try {
          v = JSON.parse(line);
        } catch (e) {
          throw new UserError(`${path} line ${i + 1} is not valid JSON (${(e as Error).message}); write one JSON object per line`);
        }
        if (typeof v === 'string') {
          out.push({ id: out.length, text: v });
          return;
        }
        if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new UserError(`${path} line ${i + 1}: expected a JSON object or string`);
        const rec = v as Record<string, unknown>;
        const field = ctx.field ?? DEFAULT_FIELDS.find((f) => typeof rec[f] === 'string');
        const text = field === undefined ? undefined : rec[field];
        if (typeof text !== 'string') {
          const want = ctx.field ? `"${ctx.field}"` : DEFAULT_FIELDS.map((f) => `"${f}"`).join(' or ');
          throw new UserError(`${path} line ${i + 1}: no text field ${want}${ctx.field ? '' : '; name the field with --field'}`);
        }
        const id = rec.index ?? rec.id;
        out.push({ id: typeof id === 'number' || typeof id === 'string' ? id : out.length, text });
      });
    return out;
  },
};

/**
 * CSV with a header row (RFC 4180; quoted texts may hold commas and line breaks), as
 * `--dataset csv:FILE` reads for training: the text in --text-column (default 'text'); the id the
 * row's "index" or "id" column when there is one, otherwise the row's line number. Other
 * columns (a label, say) are ignored. A row with the wrong number of fields or an empty text is
 * refused in one line naming the file and line.
 */
const csvTextReader: InputReader = {
  name: 'CSV',
  produces: 'text',
  accepts: (p) => !isDir(p) && /\.csv$/i.test(p),
  read(path, ctx) {
    const [head, ...rows] = parseCsv(readText(path), path);
    if (head === undefined) throw new UserError(`${path} is empty; expected a header row naming a text column, then one row per text`);
    const header = head.fields.map((h) => h.trim());
    const column = ctx.textColumn ?? 'text';
    const ti = header.indexOf(column);
    if (ti < 0) throw new UserError(`${path}: no text column "${column}"; choose one of ${header.join(', ')} with --text-column`);
    const ii = ['index', 'id'].map((c) => header.indexOf(c)).find((i) => i >= 0 && i !== ti);
    return rows.map((r) => {
      if (r.fields.length !== header.length) {
        throw new UserError(`${path} line ${r.line}: expected ${header.length} fields (as in the header) but found ${r.fields.length}; fix that row (quote texts that contain commas or line breaks)`);
      }
      const text = r.fields[ti]!;
      if (text.trim() === '') throw new UserError(`${path} line ${r.line}: the text (column "${column}") is empty; remove that row or fill it in`);
      const id = ii === undefined ? r.line : r.fields[ii]!.trim();
      return { id: typeof id === 'string' && /^\d+$/.test(id) ? Number(id) : id, text };
    });
  },
};

/** Plain text: every non-empty line is one text (use JSONL for texts with line breaks). */
const linesReader: InputReader = {
  name: 'text lines',
  produces: 'text',
  accepts: (p) => !isDir(p) && !/\.(png|idx|gz|jsonl|ndjson|json|csv)$/i.test(p) && !/-ubyte$/i.test(p),
  read(path) {
    const out: PredictInput[] = [];
    readText(path)
      .split(/\r?\n/)
      .forEach((line, i) => {
        if (line.trim() !== '') out.push({ id: i + 1, text: line });
      });
    return out;
  },
};

/** PNG images: one .png file, or a folder of them (in name order); 8-bit values scaled to [0, 1]. */
const pngReader: InputReader = {
  name: 'PNG',
  produces: 'features',
  accepts: (p) => /\.png$/i.test(p) || (isDir(p) && readdirSync(p).some((f) => /\.png$/i.test(f))),
  read(path, ctx) {
    const files = isDir(path) ? readdirSync(path).filter((f) => /\.png$/i.test(f)).sort().map((f) => join(path, f)) : [path];
    return files.map((f) => ({ id: basename(f), x: pngFeatures(f, ctx.inputShape) }));
  },
};

function pngFeatures(file: string, shape: number[]): Float32Array {
  if (shape.length !== 3) throw new UserError(`${file} is an image but the model takes inputs [${shape}], not [height, width, channels]`);
  const [h, w, c] = shape as [number, number, number];
  let png: PNG;
  try {
    png = PNG.sync.read(readFileSync(file));
  } catch (e) {
    throw new UserError(`${file} is not a readable PNG (${(e as Error).message}); pass a PNG image`);
  }
  if (png.width !== w || png.height !== h) throw new UserError(`${file} is ${png.width}×${png.height} but the model takes ${w}×${h} images; resize it`);
  if (c !== 1 && c !== 3) throw new UserError(`the model takes ${c}-channel images; PNG input works for 1 (grey) or 3 (RGB) channels`);
  const x = new Float32Array(h * w * c);
  for (let i = 0; i < h * w; i++) {
    const r = png.data[4 * i]!;
    const g = png.data[4 * i + 1]!;
    const b = png.data[4 * i + 2]!;
    if (c === 1) x[i] = (0.299 * r + 0.587 * g + 0.114 * b) / 255;
    else {
      x[3 * i] = r / 255;
      x[3 * i + 1] = g / 255;
      x[3 * i + 2] = b / 255;
    }
  }
  return x;
}

/** IDX (the MNIST format, gzip or not): dims [n, …] with one example per row; 8-bit values scaled to [0, 1]. */
const idxReader: InputReader = {
  name: 'IDX',
  produces: 'features',
  accepts: (p) => !isDir(p) && (/\.(idx|gz)$/i.test(p) || /-ubyte$/i.test(p) || /\.idx\d-ubyte/i.test(p)),
  read(path, ctx) {
    const f = readIdx(path);
    const [n, ...rest] = f.dims;
    const size = ctx.inputShape.reduce((a, b) => a * b, 1);
    const per = rest.reduce((a, b) => a * b, 1);
    if (n === undefined || per !== size) throw new UserError(`${path} holds examples of [${rest}] (${per} values) but the model takes [${ctx.inputShape}] (${size}); pass inputs of the model's size`);
    const scale = f.dtype === 'uint8' ? 1 / 255 : 1;
    return Array.from({ length: n }, (_, i) => ({ id: i, x: Float32Array.from(f.data.subarray(i * per, (i + 1) * per) as ArrayLike<number>, (v) => v * scale) }));
  },
};

/**
 * Tabular records for a model saved with `tabular.json`: a file in the model's data set's own
 * format (headerless NSL-KDD lines, ARFF, or CSV with a header — by extension), each record
 * checked against the saved schema and encoded by it; its id the record's line in the file.
 */
const tabularReader: InputReader = {
  name: 'tabular records',
  produces: 'features',
  fits: (dir) => existsSync(join(dir, TABULAR_JSON)),
  accepts: (p) => !isDir(p) && !/\.(png|idx|gz|jsonl|ndjson|json)$/i.test(p) && !/-ubyte$/i.test(p),
  read(path, ctx) {
    const enc = readTabularJson(ctx.modelDir);
    if (!enc) throw new UserError(`${ctx.modelDir} has no tabular.json: tabular records are read through a tabular model's saved encoding`);
    const rows = readTabularRecords(path, enc);
    return rows.lines.map((line, i) => ({ id: line, x: rows.x.slice(i * enc.d, (i + 1) * enc.d) }));
  },
};

const READERS: InputReader[] = [tabularReader, jsonlReader, csvTextReader, pngReader, idxReader, linesReader];

/**
 * Adds an input reader (tried before the built-in ones), e.g. tabular records for tabular models.
 *
 * @example
 * ```ts
 * registerInputReader({ name: 'CSV records', produces: 'features', accepts: (p) => p.endsWith('.csv'), read: (p, ctx) => readRecords(p, ctx.modelDir) });
 * ```
 */
export function registerInputReader(reader: InputReader): void {
  READERS.unshift(reader);
}

/**
 * The reader for a file and the model in `modelDir`, which reads `wants`: among the readers that
 * produce it, those whose `fits` says yes for this model if any (else those without `fits`),
 * the first that accepts the file. One line saying what fits otherwise.
 *
 * @example
 * ```ts
 * const reader = pickReader('adv.txt', 'features', 'runs/nsl-kdd-mlp'); // tabular records (the model has tabular.json)
 * ```
 */
export function pickReader(path: string, wants: 'text' | 'features', modelDir?: string): InputReader {
  if (!existsSync(path)) throw new UserError(`input not found: ${path}`);
  const producing = READERS.filter((r) => r.produces === wants);
  const specific = modelDir === undefined ? [] : producing.filter((r) => r.fits?.(modelDir));
  const pool = specific.length ? specific : producing.filter((r) => !r.fits);
  const reader = pool.find((r) => r.accepts(path));
  if (reader) return reader;
  const other = READERS.find((r) => (!r.fits || specific.includes(r)) && r.accepts(path));
  const kind = specific.length ? 'tabular' : wants === 'text' ? 'text' : 'features';
  const why = other && !pool.includes(other) ? `${path} is ${other.name} input, which a ${kind} model cannot read` : `advtrain cannot read ${extname(path) || 'this file'} as input`;
  throw new UserError(`${why}: this model reads ${pool.map((r) => r.name).join(', ')}`);
}

function isDir(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UserError(`cannot read ${path}: ${(e as Error).message}`);
  }
}
