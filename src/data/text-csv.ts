import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { UserError } from '../errors.js';
import { parseCsv } from './csv.js';
import { dedupeTexts, stratifiedTextSplit, toTextDataset, type LabelledText, type TextSplits } from './text-dataset.js';

/**
 * Options of {@link loadTextCsv}.
 *
 * @example
 * ```ts
 * const opts: TextCsvOptions = { textColumn: 'message', labelColumn: 'label', seed: 0, testFraction: 0.2 };
 * ```
 */
export interface TextCsvOptions {
  /** Column holding the text; default 'text'. */
  textColumn?: string;
  /** Column holding the label; default 'label'. */
  labelColumn?: string;
  /** Seed of the stratified split; default 0. */
  seed?: number;
  /** Share of each class held out as test; default 0.2. */
  testFraction?: number;
}

const compare = (a: string, b: string): number => {
  const na = Number(a);
  const nb = Number(b);
  if (a.trim() !== '' && b.trim() !== '' && Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
};

/**
 * A user's own labelled texts from a CSV file (RFC 4180, header row; texts may span lines when
 * quoted): the class names are the label column's distinct values (numbers in numeric order,
 * otherwise sorted), identical texts are kept once (copies with different labels dropped) and a
 * seeded stratified split holds out `testFraction`. A malformed row — wrong number of fields, an
 * empty text or label — is refused in one line naming the file and line.
 *
 * @example
 * ```ts
 * const { train, test } = loadTextCsv('sms.csv', { textColumn: 'message', labelColumn: 'label' });
 * ```
 */
export function loadTextCsv(path: string, opts: TextCsvOptions = {}): TextSplits {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`CSV file not found: ${path}; check the path after csv:`);
    throw new UserError(`cannot read CSV file ${path}: ${(e as Error).message}`);
  }
  const records = parseCsv(raw, path);
  const [head, ...rows] = records;
  if (head === undefined) throw new UserError(`${path} is empty; expected a header row (with a text and a label column), then one row per text`);
  const header = head.fields.map((h) => h.trim());
  const textColumn = opts.textColumn ?? 'text';
  const labelColumn = opts.labelColumn ?? 'label';
  const ti = header.indexOf(textColumn);
  const li = header.indexOf(labelColumn);
  if (ti < 0) throw new UserError(`${path}: no text column "${textColumn}"; choose one of ${header.join(', ')} with --text-column`);
  if (li < 0) throw new UserError(`${path}: no label column "${labelColumn}"; choose one of ${header.join(', ')} with --label-column`);
  if (ti === li) throw new UserError(`${path}: the text and the label column are both "${textColumn}"; name two different columns`);
  const cells: { text: string; label: string; line: number }[] = [];
  for (const r of rows) {
    if (r.fields.length !== header.length) {
      throw new UserError(`${path} line ${r.line}: expected ${header.length} fields (as in the header) but found ${r.fields.length}; fix that row (quote texts that contain commas or line breaks)`);
    }
    const text = r.fields[ti]!;
    const label = r.fields[li]!.trim();
    if (text.trim() === '') throw new UserError(`${path} line ${r.line}: the text (column "${textColumn}") is empty; remove that row or fill it in`);
    if (label === '') throw new UserError(`${path} line ${r.line}: the label (column "${labelColumn}") is empty; give every row a label`);
    cells.push({ text, label, line: r.line });
  }
  const classNames = [...new Set(cells.map((c) => c.label))].sort(compare);
  if (classNames.length < 2) {
    throw new UserError(`${path}: the label column "${labelColumn}" has ${classNames.length === 0 ? 'no rows' : `only one value ("${classNames[0]}")`}; a classifier needs at least 2 classes`);
  }
  const index = new Map(classNames.map((c, i) => [c, i]));
  const items: LabelledText[] = cells.map((c) => ({ text: c.text, label: index.get(c.label)!, source: `${path} line ${c.line}` }));
  const { kept } = dedupeTexts(items);
  const fraction = opts.testFraction ?? 0.2;
  if (!(fraction > 0 && fraction < 1)) throw new UserError(`test fraction must lie strictly between 0 and 1 (got ${fraction})`);
  const { train, test } = stratifiedTextSplit(kept, fraction, opts.seed ?? 0);
  if (train.length === 0 || test.length === 0) throw new UserError(`${path} has too few distinct texts (${kept.length}) to hold out a test split; add rows`);
  const name = basename(path);
  return { train: toTextDataset(`${name}/train`, train, classNames), test: toTextDataset(`${name}/test`, test, [...classNames]) };
}
