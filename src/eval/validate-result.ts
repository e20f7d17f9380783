/** Validation of eval result files (`advtrain/eval@2`, whose types live in schema.ts): one line naming the first field that is wrong. */
import { UserError } from '../errors.js';
import { EVAL_SCHEMA, VERDICTS, type EvalResultV2 } from './schema.js';


type Obj = Record<string, unknown>;

function show(v: unknown): string {
  if (v === undefined) return 'missing';
  const s = JSON.stringify(v);
  return `got ${s === undefined ? String(v) : s.length > 40 ? s.slice(0, 37) + '...' : s}`;
}

function bad(path: string, want: string, v: unknown): never {
  throw new UserError(`invalid eval result: ${path} must be ${want} (${show(v)})`);
}

function obj(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(path, 'an object', v);
  return v as Obj;
}
function str(v: unknown, path: string): string {
  if (typeof v !== 'string' || v.length === 0) bad(path, 'a non-empty string', v);
  return v;
}
function num(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(path, 'a finite number', v);
  return v;
}
function nonneg(v: unknown, path: string): number {
  if (num(v, path) < 0) bad(path, 'a non-negative number', v);
  return v as number;
}
function int(v: unknown, path: string, min = 0): number {
  if (!Number.isInteger(v) || (v as number) < min) bad(path, `an integer ≥ ${min}`, v);
  return v as number;
}
function frac(v: unknown, path: string): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) bad(path, 'a fraction in [0, 1]', v);
  return v;
}
function arr(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) bad(path, 'an array', v);
  return v;
}
function oneOf<T extends string>(v: unknown, path: string, values: readonly T[]): T {
  if (typeof v !== 'string' || !values.includes(v as T)) bad(path, `one of ${values.join(', ')}`, v);
  return v as T;
}
function opt<T>(o: Obj, key: string, path: string, check: (v: unknown, p: string) => T): void {
  if (o[key] !== undefined) check(o[key], `${path}.${key}`);
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
function png(v: unknown, path: string): void {
  if (typeof v !== 'string' || v.length < 12 || !BASE64.test(v) || !v.startsWith('iVBORw0KGgo')) {
    bad(path, 'a base64 PNG', typeof v === 'string' ? v.slice(0, 16) : v);
  }
}

/** A median/mean/max triple of fractions or counts (null when there was no example). */
function stat(v: unknown, path: string): void {
  const o = obj(v, path);
  for (const k of ['median', 'mean', 'max']) if (o[k] !== null) nonneg(o[k], `${path}.${k}`);
}

/** The text evaluation section (`--preset text`). */
function textSection(v: unknown): void {
  const t = obj(v, 'text');
  arr(t.attacked_classes, 'text.attacked_classes').forEach((c, i) => str(c, `text.attacked_classes[${i}]`));
  int(t.attacked, 'text.attacked');
  frac(t.success_rate, 'text.success_rate');
  stat(t.words_changed, 'text.words_changed');
  stat(t.queries_per_example, 'text.queries_per_example');
  arr(t.attacks, 'text.attacks').forEach((a, i) => {
    const p = `text.attacks[${i}]`;
    const o = obj(a, p);
    str(o.name, `${p}.name`);
    int(o.attacked, `${p}.attacked`);
    frac(o.success_rate, `${p}.success_rate`);
    stat(o.words_changed, `${p}.words_changed`);
    stat(o.queries, `${p}.queries`);
    nonneg(o.seconds_per_message, `${p}.seconds_per_message`);
    int(o.unverified, `${p}.unverified`);
  });
  arr(t.examples, 'text.examples').forEach((e, i) => {
    const p = `text.examples[${i}]`;
    const o = obj(e, p);
    int(o.index, `${p}.index`);
    for (const k of ['label', 'predicted_after', 'attack', 'original', 'adversarial']) if (typeof o[k] !== 'string') bad(`${p}.${k}`, 'a string', o[k]);
    oneOf(o.outcome, `${p}.outcome`, ['broken', 'survived'] as const);
    arr(o.changed_words, `${p}.changed_words`).forEach((c, k) => {
      const w = obj(c, `${p}.changed_words[${k}]`);
      if (typeof w.from !== 'string' || typeof w.to !== 'string') bad(`${p}.changed_words[${k}]`, '{from, to} strings', c);
    });
    frac(o.share, `${p}.share`);
    int(o.queries, `${p}.queries`);
  });
}

function histogram(v: unknown, path: string): void {
  const h = obj(v, path);
  const edges = arr(h.edges, `${path}.edges`);
  const counts = arr(h.counts, `${path}.counts`);
  edges.forEach((e, i) => {
    num(e, `${path}.edges[${i}]`);
    if (i > 0 && (e as number) <= (edges[i - 1] as number)) bad(`${path}.edges[${i}]`, 'greater than the edge before it', e);
  });
  counts.forEach((c, i) => int(c, `${path}.counts[${i}]`));
  if (counts.length === 0 || edges.length !== counts.length + 1) {
    bad(`${path}.edges`, `one longer than counts (${counts.length})`, `${edges.length} edges`);
  }
}

function distribution(v: unknown, path: string): void {
  const d = obj(v, path);
  num(d.mean, `${path}.mean`);
  histogram(d.histogram, `${path}.histogram`);
}

function galleryView(v: unknown, path: string): void {
  const g = obj(v, path);
  int(g.prediction, `${path}.prediction`);
  frac(g.confidence, `${path}.confidence`);
  png(g.png, `${path}.png`);
}

/**
 * Checks that a parsed result file has every field the report needs, with the right types and
 * ranges, and returns it typed. Throws a one-line {@link UserError} naming the first bad field,
 * e.g. `invalid eval result: attacks[1].queries.median must be a finite number (got "12")`.
 * Unknown extra fields are allowed (and ignored by the report).
 *
 * @example
 * ```ts
 * const result = validateEvalResult(JSON.parse(readFileSync('eval.json', 'utf8')));
 * console.log(result.robust_accuracy);
 * ```
 */
export function validateEvalResult(value: unknown): EvalResultV2 {
  const r = obj(value, 'result');
  if (r.schema !== EVAL_SCHEMA) bad('schema', `"${EVAL_SCHEMA}"`, r.schema);
  if (typeof r.created !== 'string' || Number.isNaN(Date.parse(r.created))) bad('created', 'an ISO 8601 date', r.created);
  const versions = obj(r.versions, 'versions');
  for (const k of ['advtrain', 'tfjs', 'node']) str(versions[k], `versions.${k}`);
  const engine = obj(r.engine, 'engine');
  str(engine.backend, 'engine.backend');
  opt(engine, 'threads', 'engine', (v, p) => int(v, p, 1));
  int(r.seed, 'seed');

  const model = obj(r.model, 'model');
  str(model.path, 'model.path');
  opt(model, 'architecture', 'model', str);
  opt(model, 'trained_on', 'model', str);
  const data = obj(r.data, 'data');
  str(data.dataset, 'data.dataset');
  if (data.split !== 'test') bad('data.split', '"test"', data.split);
  int(data.n, 'data.n', 1);
  opt(data, 'classes', 'data', (v, p) => arr(v, p).forEach((c, i) => str(c, `${p}[${i}]`)));
  str(r.threat, 'threat');
  oneOf(r.preset, 'preset', ['quick', 'standard', 'thorough', 'tabular', 'custom', 'text'] as const);

  frac(r.clean_accuracy, 'clean_accuracy');
  frac(r.robust_accuracy, 'robust_accuracy');

  arr(r.attacks, 'attacks').forEach((v, i) => {
    const p = `attacks[${i}]`;
    const a = obj(v, p);
    str(a.name, `${p}.name`);
    const params = obj(a.params, `${p}.params`);
    for (const [k, pv] of Object.entries(params)) {
      if (!['number', 'string', 'boolean'].includes(typeof pv)) bad(`${p}.params.${k}`, 'a number, string or boolean', pv);
    }
    frac(a.robust_accuracy, `${p}.robust_accuracy`);
    opt(a, 'attack_accuracy', p, frac);
    const q = obj(a.queries, `${p}.queries`);
    for (const k of ['median', 'mean', 'total']) nonneg(q[k], `${p}.queries.${k}`);
    nonneg(a.time_s, `${p}.time_s`);
    int(a.attacked, `${p}.attacked`);
    opt(a, 'validity_rate', p, frac);
  });
  opt(r, 'tabular', 'result', (v, p) => frac(obj(v, p).validity_rate, `${p}.validity_rate`));

  if (r.per_class !== undefined) {
    arr(r.per_class, 'per_class').forEach((v, i) => {
      const p = `per_class[${i}]`;
      const c = obj(v, p);
      int(c.label, `${p}.label`);
      const n = int(c.n, `${p}.n`, 1);
      const clean = int(c.clean_correct, `${p}.clean_correct`);
      if (clean > n) bad(`${p}.clean_correct`, `at most n (${n})`, clean);
      const robust = int(c.robust, `${p}.robust`);
      if (robust > clean) bad(`${p}.robust`, `at most clean_correct (${clean})`, robust);
      frac(c.clean_accuracy, `${p}.clean_accuracy`);
      frac(c.robust_accuracy, `${p}.robust_accuracy`);
    });
  }

  const margin = obj(r.margin, 'margin');
  for (const side of ['clean', 'adversarial']) {
    const s = obj(margin[side], `margin.${side}`);
    distribution(s.confidence, `margin.${side}.confidence`);
    distribution(s.margin, `margin.${side}.margin`);
  }
  const gap = obj(margin.gap, 'margin.gap');
  num(gap.confidence, 'margin.gap.confidence');
  num(gap.margin, 'margin.gap.margin');

  if (r.training !== undefined) {
    arr(r.training, 'training').forEach((v, i) => {
      const p = `training[${i}]`;
      const e = obj(v, p);
      int(e.epoch, `${p}.epoch`);
      num(e.loss, `${p}.loss`);
      for (const k of ['clean_accuracy', 'adv_accuracy', 'val_accuracy', 'robust_val_accuracy']) opt(e, k, p, frac);
      opt(e, 'adv_loss', p, num);
      opt(e, 'eps', p, nonneg);
    });
  }
  if (r.eps_curve !== undefined) {
    arr(r.eps_curve, 'eps_curve').forEach((v, i) => {
      const e = obj(v, `eps_curve[${i}]`);
      nonneg(e.eps, `eps_curve[${i}].eps`);
      frac(e.accuracy, `eps_curve[${i}].accuracy`);
    });
  }
  if (r.minimal_norms !== undefined) {
    for (const [name, v] of Object.entries(obj(r.minimal_norms, 'minimal_norms'))) {
      const p = `minimal_norms.${name}`;
      const m = obj(v, p);
      oneOf(m.norm, `${p}.norm`, ['l2', 'linf'] as const);
      nonneg(m.median, `${p}.median`);
      nonneg(m.mean, `${p}.mean`);
      histogram(m.histogram, `${p}.histogram`);
    }
  }
  if (r.transfer !== undefined) {
    const t = obj(r.transfer, 'transfer');
    const models = arr(t.models, 'transfer.models');
    if (models.length === 0) bad('transfer.models', 'a non-empty array', models);
    models.forEach((m, i) => str(m, `transfer.models[${i}]`));
    const rows = arr(t.matrix, 'transfer.matrix');
    if (rows.length !== models.length) bad('transfer.matrix', `${models.length} rows (one per model)`, `${rows.length} rows`);
    rows.forEach((row, i) => {
      const cells = arr(row, `transfer.matrix[${i}]`);
      if (cells.length !== models.length) bad(`transfer.matrix[${i}]`, `${models.length} entries`, `${cells.length} entries`);
      cells.forEach((c, j) => frac(c, `transfer.matrix[${i}][${j}]`));
    });
    str(t.threat, 'transfer.threat');
    str(t.attack, 'transfer.attack');
  }

  arr(r.checks, 'checks').forEach((v, i) => {
    const p = `checks[${i}]`;
    const c = obj(v, p);
    str(c.name, `${p}.name`);
    oneOf(c.verdict, `${p}.verdict`, VERDICTS);
    if (typeof c.detail !== 'string') bad(`${p}.detail`, 'a string', c.detail);
    opt(c, 'affects', p, (a, ap) => arr(a, ap).forEach((s, k) => str(s, `${ap}[${k}]`)));
  });

  arr(r.gallery, 'gallery').forEach((v, i) => {
    const p = `gallery[${i}]`;
    const g = obj(v, p);
    int(g.index, `${p}.index`);
    int(g.label, `${p}.label`);
    opt(g, 'outcome', p, (o, op) => oneOf(o, op, ['broken', 'survived'] as const));
    galleryView(g.clean, `${p}.clean`);
    galleryView(g.adversarial, `${p}.adversarial`);
    png(obj(g.perturbation, `${p}.perturbation`).png, `${p}.perturbation.png`);
  });

  if (r.text !== undefined) textSection(r.text);

  nonneg(r.time_s, 'time_s');
  if (r.command !== undefined) {
    const c = obj(r.command, 'command');
    opt(c, 'argv', 'command', (v, p) => {
      const a = arr(v, p);
      if (a.length === 0) bad(p, 'a non-empty array', v);
      a.forEach((s, i) => {
        if (typeof s !== 'string') bad(`${p}[${i}]`, 'a string', s);
      });
    });
    opt(c, 'cwd', 'command', str);
    opt(c, 'call', 'command', str);
    if (c.argv === undefined && c.call === undefined) bad('command', 'an object with argv or call', c);
  }
  return r as unknown as EvalResultV2;
}
