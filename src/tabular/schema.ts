import { readFileSync } from 'node:fs';
import { UserError } from '../errors.js';
import { ExprSyntaxError, parseRelation } from './expr.js';

/** The format tag every tabular schema file carries. */
export const SCHEMA_FORMAT = 'advtrain/tabular-schema@1';

/** How a numeric feature is scaled into the model's input (see {@link TabularEncoding}). */
export type FeatureScale = 'linear' | 'log';

/** Fields every feature declares. */
interface FeatureBase {
  /** Column name, as in the data file (relations refer to features by it). */
  name: string;
  /** False: nobody can change it (e.g. the protocol an attack needs); default true. */
  mutable?: boolean;
  /** One line on what the feature means, for people. */
  description?: string;
}

/** A two-valued feature: `values[0]` (default 0) or `values[1]` (default 1). */
export interface BinaryFeature extends FeatureBase {
  type: 'binary';
  values?: [number, number];
}

/** A whole number in [min, max] (a grid of step 1, or `step`). */
export interface IntegerFeatureSpec extends FeatureBase {
  type: 'integer';
  min: number;
  max: number;
  /** Default 'linear'; 'log' for heavy-tailed counts (bytes): log(1 + v − min) scaled into [0, 1]. */
  scale?: FeatureScale;
}

/** A real number in [min, max], optionally on the grid `min + k·step` (e.g. rates on 0.01). */
export interface RealFeatureSpec extends FeatureBase {
  type: 'real';
  min: number;
  max: number;
  step?: number;
  scale?: FeatureScale;
}

/** One of a fixed list of categories (one-hot encoded as a group). */
export interface CategoricalFeatureSpec extends FeatureBase {
  type: 'categorical';
  categories: string[];
}

/** One feature of a schema. */
export type FeatureSpec = BinaryFeature | IntegerFeatureSpec | RealFeatureSpec | CategoricalFeatureSpec;

/** A relation between features, written in the constraint language over raw feature names. */
export interface RelationSpec {
  /** Short name, for messages. */
  name: string;
  /**
   * The relation, e.g. `protocol_type == "icmp" -> flag == "SF"`, `a + b <= 1`,
   * `urgent > 0 -> protocol_type == "tcp"`. See `docs/ARCHITECTURE.md` (Tabular data) for the grammar.
   */
  expr: string;
  /** Absolute tolerance of comparisons in raw units (default 1e-6; a relative 1e-5 is added). */
  tolerance?: number;
  /** Why it holds (the documentation or measurement it comes from), for people. */
  description?: string;
}

/** What the attacker controls (the rest of the mutable features follow from the record's other traffic or reputation). */
export interface AttackerSpec {
  /** Names of the features an attacker can set; default: every mutable feature. */
  controls?: string[];
  /** Why this set, for people. */
  note?: string;
}

/**
 * A declarative description of a tabular data set's valid records: feature types, bounds,
 * immutables, what an attacker controls, and relations between features. Written as JSON
 * (`schemas/nsl-kdd.json` is an example) and checked by {@link parseSchema}.
 *
 * @example
 * ```ts
 * const schema: TabularSchema = {
 *   format: 'advtrain/tabular-schema@1', name: 'toy',
 *   features: [
 *     { name: 'proto', type: 'categorical', categories: ['tcp', 'udp'] },
 *     { name: 'bytes', type: 'integer', min: 0, max: 1e6, scale: 'log' },
 *   ],
 *   relations: [{ name: 'udp-small', expr: 'proto == "udp" -> bytes <= 512' }],
 * };
 * ```
 */
export interface TabularSchema {
  format: typeof SCHEMA_FORMAT;
  name: string;
  description?: string;
  features: FeatureSpec[];
  relations?: RelationSpec[];
  attacker?: AttackerSpec;
}

const FEATURE_TYPES = ['binary', 'integer', 'real', 'categorical'];
const FEATURE_KEYS: Record<string, string[]> = {
  binary: ['name', 'type', 'mutable', 'description', 'values'],
  integer: ['name', 'type', 'mutable', 'description', 'min', 'max', 'scale'],
  real: ['name', 'type', 'mutable', 'description', 'min', 'max', 'step', 'scale'],
  categorical: ['name', 'type', 'mutable', 'description', 'categories'],
};
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Checks a parsed JSON value against the schema format and returns it typed. Throws one
 * {@link UserError} line naming the source and the field (e.g. `s.json: features[3].max: …`).
 *
 * @example
 * ```ts
 * const schema = parseSchema(JSON.parse(readFileSync('my-schema.json', 'utf8')), 'my-schema.json');
 * ```
 */
export function parseSchema(value: unknown, source = '<schema>'): TabularSchema {
  const fail = (field: string, msg: string): never => {
    throw new UserError(`${source}: ${field}: ${msg}`);
  };
  const obj = (v: unknown, field: string): Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : fail(field, `expected an object, got ${describe(v)}`);
  const onlyKeys = (o: Record<string, unknown>, keys: string[], field: string) => {
    for (const k of Object.keys(o)) if (!keys.includes(k)) fail(`${field}.${k}`, `unknown key; allowed: ${keys.join(', ')}`);
  };
  const str = (v: unknown, field: string): string => (typeof v === 'string' && v !== '' ? v : fail(field, `expected a non-empty string, got ${describe(v)}`));
  const num = (v: unknown, field: string): number => (typeof v === 'number' && Number.isFinite(v) ? v : fail(field, `expected a finite number, got ${describe(v)}`));
  const bool = (v: unknown, field: string): boolean => (typeof v === 'boolean' ? v : fail(field, `expected true or false, got ${describe(v)}`));

  const root = obj(value, '(root)');
  onlyKeys(root, ['format', 'name', 'description', 'features', 'relations', 'attacker'], '(root)');
  if (root.format !== SCHEMA_FORMAT) fail('format', `expected "${SCHEMA_FORMAT}", got ${describe(root.format)}`);
  const name = str(root.name, 'name');
  if (!Array.isArray(root.features) || root.features.length === 0) fail('features', 'expected a non-empty array of features');
  const seen = new Set<string>();
  const features = (root.features as unknown[]).map((raw, i): FeatureSpec => {
    const at = `features[${i}]`;
    const f = obj(raw, at);
    const fname = str(f.name, `${at}.name`);
    if (!NAME.test(fname)) fail(`${at}.name`, `"${fname}" is not a valid feature name (letters, digits, _; not starting with a digit)`);
    if (seen.has(fname)) fail(`${at}.name`, `"${fname}" is declared twice`);
    seen.add(fname);
    const type = f.type as string;
    if (!FEATURE_TYPES.includes(type)) fail(`${at}.type`, `expected one of ${FEATURE_TYPES.join(', ')}, got ${describe(f.type)}`);
    onlyKeys(f, FEATURE_KEYS[type]!, at);
    if (f.mutable !== undefined) bool(f.mutable, `${at}.mutable`);
    if (f.description !== undefined) str(f.description, `${at}.description`);
    if (type === 'binary') {
      if (f.values !== undefined) {
        if (!Array.isArray(f.values) || f.values.length !== 2) fail(`${at}.values`, 'expected two numbers [low, high]');
        const [lo, hi] = (f.values as unknown[]).map((v, j) => num(v, `${at}.values[${j}]`));
        if (!(lo! < hi!)) fail(`${at}.values`, `the first value must be below the second (got [${lo}, ${hi}])`);
      }
    } else if (type === 'categorical') {
      if (!Array.isArray(f.categories) || f.categories.length < 2) fail(`${at}.categories`, 'expected an array of at least 2 category names');
      const cats = (f.categories as unknown[]).map((c, j) => str(c, `${at}.categories[${j}]`));
      const dup = cats.find((c, j) => cats.indexOf(c) !== j);
      if (dup !== undefined) fail(`${at}.categories`, `"${dup}" is listed twice`);
    } else {
      const min = num(f.min, `${at}.min`);
      const max = num(f.max, `${at}.max`);
      if (min > max) fail(`${at}.max`, `max ${max} is below min ${min}`);
      if (type === 'integer' && (!Number.isInteger(min) || !Number.isInteger(max))) fail(`${at}.min`, `an integer feature needs whole-number bounds (got [${min}, ${max}])`);
      if (f.scale !== undefined && f.scale !== 'linear' && f.scale !== 'log') fail(`${at}.scale`, `expected "linear" or "log", got ${describe(f.scale)}`);
      if (f.step !== undefined && !(num(f.step, `${at}.step`) > 0)) fail(`${at}.step`, `expected a positive number, got ${describe(f.step)}`);
    }
    return f as unknown as FeatureSpec;
  });

  const relations = root.relations === undefined ? undefined : Array.isArray(root.relations) ? root.relations : fail('relations', 'expected an array');
  const relNames = new Set<string>();
  (relations ?? []).forEach((raw: unknown, i: number) => {
    const at = `relations[${i}]`;
    const r = obj(raw, at);
    onlyKeys(r, ['name', 'expr', 'tolerance', 'description'], at);
    const rname = str(r.name, `${at}.name`);
    if (relNames.has(rname)) fail(`${at}.name`, `"${rname}" is used twice`);
    relNames.add(rname);
    try {
      parseRelation(str(r.expr, `${at}.expr`));
    } catch (e) {
      if (e instanceof ExprSyntaxError) fail(`${at}.expr`, `column ${e.column}: ${e.message}`);
      throw e;
    }
    if (r.description !== undefined) str(r.description, `${at}.description`);
    if (r.tolerance !== undefined && !(num(r.tolerance, `${at}.tolerance`) >= 0)) fail(`${at}.tolerance`, 'expected a number ≥ 0');
  });

  if (root.attacker !== undefined) {
    const a = obj(root.attacker, 'attacker');
    onlyKeys(a, ['controls', 'note'], 'attacker');
    if (a.note !== undefined) str(a.note, 'attacker.note');
    if (a.controls !== undefined) {
      if (!Array.isArray(a.controls)) fail('attacker.controls', 'expected an array of feature names');
      (a.controls as unknown[]).forEach((c, j) => {
        const n = str(c, `attacker.controls[${j}]`);
        if (!seen.has(n)) fail(`attacker.controls[${j}]`, `"${n}" is not a declared feature`);
      });
    }
  }
  if (root.description !== undefined) str(root.description, 'description');
  return { ...(root as object), name, features } as TabularSchema;
}

/**
 * Reads and checks a schema file (see {@link parseSchema}).
 *
 * @example
 * ```ts
 * const schema = loadSchema('schemas/nsl-kdd.json');
 * ```
 */
export function loadSchema(path: string): TabularSchema {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `schema file not found: ${path}; check the path` : `cannot read schema file ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${path} is not valid JSON (${(e as Error).message}); fix the schema file`);
  }
  return parseSchema(json, path);
}

/** Numeric bounds of a non-categorical feature. */
export function featureBounds(f: Exclude<FeatureSpec, CategoricalFeatureSpec>): [number, number] {
  if (f.type === 'binary') return f.values ? [f.values[0], f.values[1]] : [0, 1];
  return [f.min, f.max];
}

/** Grid step in raw units of a non-categorical feature (undefined: continuous). */
export function featureStep(f: Exclude<FeatureSpec, CategoricalFeatureSpec>): number | undefined {
  if (f.type === 'binary') {
    const [lo, hi] = featureBounds(f);
    return hi - lo;
  }
  if (f.type === 'integer') return 1;
  return f.step;
}

/**
 * Names of the features an attack may change: the attacker's `controls` (default every
 * feature) that are mutable.
 */
export function controllableFeatures(schema: TabularSchema): Set<string> {
  const controls = schema.attacker?.controls ? new Set(schema.attacker.controls) : undefined;
  return new Set(schema.features.filter((f) => f.mutable !== false && (controls ? controls.has(f.name) : true)).map((f) => f.name));
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}
