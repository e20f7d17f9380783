import { readFileSync } from 'node:fs';
import { UserError } from '../errors.js';

/** One `@attribute` of an ARFF file. */
export interface ArffAttribute {
  name: string;
  /** 'nominal' ({a,b,…}), 'numeric' (numeric, real, integer) or 'string'. */
  kind: 'nominal' | 'numeric' | 'string';
  /** The allowed values of a nominal attribute, as written. */
  values?: string[];
}

/** A parsed ARFF file: header and data rows (fields as written, checked against the header). */
export interface ArffFile {
  relation: string;
  attributes: ArffAttribute[];
  rows: { fields: string[]; line: number }[];
}

/** Splits an ARFF list (`a, 'b c', "d"`) on commas outside quotes, unquoting. */
function splitFields(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (quote) {
      if (ch === '\\' && i + 1 < s.length) cur += s[++i];
      else if (ch === quote) quote = '';
      else cur += ch;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === ',') {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

/** The first token of `s` (quoted or bare) and the rest. */
function firstToken(s: string): [string, string] {
  const t = s.trimStart();
  const q = t[0];
  if (q === "'" || q === '"') {
    const end = t.indexOf(q, 1);
    return end < 0 ? [t.slice(1), ''] : [t.slice(1, end), t.slice(end + 1)];
  }
  const m = /^\S+/.exec(t);
  return m ? [m[0], t.slice(m[0].length)] : ['', ''];
}

/**
 * Parses ARFF text (Weka's format: `@relation`, `@attribute NAME {a,b}|numeric|real|integer|string`,
 * `@data`, comma-separated rows; `%` comments; CRLF or LF). Every row is checked: its number of
 * fields, nominal values in their set, numbers in numeric attributes (`?` is refused: advtrain
 * has no missing values). A problem is one {@link UserError} line naming the source, the line and
 * the attribute.
 *
 * @example
 * ```ts
 * const arff = parseArff(readFileSync('Training_Dataset.arff', 'utf8'), 'Training_Dataset.arff');
 * console.log(arff.attributes.length, arff.rows.length); // 31 11055
 * ```
 */
export function parseArff(text: string, source = '<arff>'): ArffFile {
  const lines = text.split(/\r?\n/);
  let relation = '';
  const attributes: ArffAttribute[] = [];
  const rows: ArffFile['rows'] = [];
  let inData = false;
  lines.forEach((raw, i) => {
    const line = raw.trim();
    const at = `${source} line ${i + 1}`;
    if (line === '' || line.startsWith('%')) return;
    if (!inData) {
      const lower = line.toLowerCase();
      if (lower.startsWith('@relation')) relation = firstToken(line.slice(9))[0];
      else if (lower.startsWith('@attribute')) {
        const [name, rest] = firstToken(line.slice(10));
        if (!name) throw new UserError(`${at}: @attribute without a name`);
        const type = rest.trim();
        if (type.startsWith('{')) {
          if (!type.endsWith('}')) throw new UserError(`${at}, attribute ${name}: the nominal list is not closed with }`);
          attributes.push({ name, kind: 'nominal', values: splitFields(type.slice(1, -1)) });
        } else if (/^(numeric|real|integer)$/i.test(type)) attributes.push({ name, kind: 'numeric' });
        else if (/^string$/i.test(type)) attributes.push({ name, kind: 'string' });
        else throw new UserError(`${at}, attribute ${name}: unsupported type ${JSON.stringify(type)}; use numeric, real, integer, string or {a,b,…}`);
      } else if (lower === '@data') {
        if (attributes.length === 0) throw new UserError(`${at}: @data before any @attribute`);
        inData = true;
      } else throw new UserError(`${at}: expected @relation, @attribute or @data, found ${JSON.stringify(line.slice(0, 30))}`);
      return;
    }
    if (line.startsWith('{')) throw new UserError(`${at}: sparse ARFF rows are not supported; write every value`);
    const fields = splitFields(line);
    if (fields.length !== attributes.length) {
      throw new UserError(`${at}: expected ${attributes.length} fields (one per @attribute) but found ${fields.length}`);
    }
    fields.forEach((v, j) => {
      const a = attributes[j]!;
      if (v === '?') throw new UserError(`${at}, attribute ${a.name}: missing value "?"; fill it in or drop the row`);
      if (a.kind === 'nominal' && !a.values!.includes(v)) {
        throw new UserError(`${at}, attribute ${a.name}: ${JSON.stringify(v)} is not one of {${a.values!.join(',')}}`);
      }
      if (a.kind === 'numeric' && !Number.isFinite(Number(v))) throw new UserError(`${at}, attribute ${a.name}: ${JSON.stringify(v)} is not a number`);
    });
    rows.push({ fields, line: i + 1 });
  });
  if (!inData) throw new UserError(`${source}: no @data section; an ARFF file needs @attribute lines, then @data and the rows`);
  return { relation, attributes, rows };
}

/**
 * Reads and parses an ARFF file (see {@link parseArff}).
 *
 * @example
 * ```ts
 * const arff = readArff('data/Training_Dataset.arff');
 * ```
 */
export function readArff(path: string): ArffFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `ARFF file not found: ${path}; check the path` : `cannot read ${path}: ${(e as Error).message}`);
  }
  return parseArff(text, path);
}
