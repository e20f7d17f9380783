import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.js';
import type { Domain, IntegerFeature, OneHotGroup, Relation } from '../data/domain.js';
import { controllableFeatures, featureBounds, featureStep, parseSchema, type FeatureScale, type TabularSchema } from './schema.js';
import { compileRelations, gridRelation } from './compile.js';

/**
 * One raw record: feature name → number (numeric features) or category name (categorical ones).
 *
 * @example
 * ```ts
 * const r: TabularRecord = { protocol_type: 'tcp', src_bytes: 491, serror_rate: 0.25 };
 * ```
 */
export type TabularRecord = Record<string, number | string>;

/** How one schema feature sits in the model's input. */
export interface EncodedColumn {
  name: string;
  kind: 'numeric' | 'categorical';
  /** Index of the first model-input feature and how many there are (1, or one per category). */
  offset: number;
  width: number;
  /** Numeric: raw bounds, scaling and grid step (raw units; undefined: continuous). */
  min: number;
  max: number;
  scale: FeatureScale;
  step?: number;
  categories?: string[];
  /** Whether attacks may change it (mutable and attacker-controlled). */
  controllable: boolean;
}

/** The JSON saved beside a model (`tabular.json`): everything needed to encode and decode again. */
export interface TabularEncodingJson {
  format: 'advtrain/tabular-encoding@1';
  schema: TabularSchema;
}

/**
 * The reversible map between raw records and model inputs, derived from a schema alone:
 * categorical features one-hot, numeric ones scaled into [0, 1] from their declared bounds —
 * min-max, or `log(1 + v − min) / log(1 + max − min)` for `scale: "log"` (byte counts).
 * `decode` rounds to each feature's grid and picks the largest entry of a one-hot group, so
 * `decode(encode(r))` gives back `r` exactly on the integer and categorical grids (a log-scaled
 * value above about 10⁵ comes back within float32's resolution, a few parts in 10⁶).
 *
 * @example
 * ```ts
 * const enc = new TabularEncoding(loadSchema('schemas/nsl-kdd.json'));
 * const records: TabularRecord[] = enc.decode(loadNslKdd().test.x); // raw records
 * const x = enc.encode(records);            // Float32Array, records.length × enc.d
 * const domain = enc.domain();              // box, grids, one-hot groups, immutables, relations
 * ```
 */
export class TabularEncoding {
  readonly columns: readonly EncodedColumn[];
  /** Number of model-input features. */
  readonly d: number;
  /** One name per model-input feature: `name`, or `name=category` in a one-hot group. */
  readonly featureNames: readonly string[];
  private readonly byName: Map<string, number>;
  /** Per column: category → index (categorical columns). */
  private readonly catIndex: (Map<string, number> | undefined)[];
  private domainCache?: Domain;

  constructor(readonly schema: TabularSchema) {
    const controllable = controllableFeatures(schema);
    const columns: EncodedColumn[] = [];
    const names: string[] = [];
    for (const f of schema.features) {
      const base = { name: f.name, offset: names.length, controllable: controllable.has(f.name) };
      if (f.type === 'categorical') {
        columns.push({ ...base, kind: 'categorical', width: f.categories.length, min: 0, max: 1, scale: 'linear', categories: [...f.categories] });
        for (const c of f.categories) names.push(`${f.name}=${c}`);
      } else {
        const [min, max] = featureBounds(f);
        const step = featureStep(f);
        const scale = f.type === 'binary' ? 'linear' : (f.scale ?? 'linear');
        columns.push({ ...base, kind: 'numeric', width: 1, min, max, scale, ...(step !== undefined ? { step } : {}) });
        names.push(f.name);
      }
    }
    this.columns = columns;
    this.featureNames = names;
    this.d = names.length;
    this.byName = new Map(columns.map((c, i) => [c.name, i]));
    this.catIndex = columns.map((c) => (c.categories ? new Map(c.categories.map((k, i) => [k, i])) : undefined));
    this.lastIn = new Float64Array(columns.length).fill(NaN);
    this.lastOut = new Float64Array(columns.length);
    this.domain(); // compiles the relations now, so a mistake in one is reported when the schema is read
  }

  /** Index of a schema feature (its column), or undefined. */
  columnIndex(name: string): number | undefined {
    return this.byName.get(name);
  }

  /** The model-input value of one raw numeric value (float64; the caller rounds to float32). */
  encodeValue(col: EncodedColumn, v: number): number {
    const span = col.max - col.min;
    if (span <= 0) return 0;
    return col.scale === 'log' ? Math.log1p(v - col.min) / Math.log1p(span) : (v - col.min) / span;
  }

  /** The raw value of one model-input value, continuous (not rounded to the grid). */
  decodeValue(col: EncodedColumn, x: number): number {
    const span = col.max - col.min;
    if (span <= 0) return col.min;
    return col.scale === 'log' ? col.min + Math.expm1(x * Math.log1p(span)) : col.min + x * span;
  }

  /** A raw value moved onto the feature's grid and into its bounds. */
  snap(col: EncodedColumn, v: number): number {
    let r = Math.min(col.max, Math.max(col.min, v));
    if (col.step !== undefined) {
      const k = Math.round((r - col.min) / col.step);
      // min + k / (1/step) is the double nearest the decimal value when 1/step is a whole number (0.01 → 100).
      const inv = 1 / col.step;
      const whole = Math.abs(inv - Math.round(inv)) < 1e-9 ? Math.round(inv) : 0;
      r = whole ? col.min + k / whole : col.min + k * col.step;
      if (r > col.max) r = whole ? col.min + (k - 1) / whole : r - col.step;
    }
    return r;
  }

  /**
   * Raw records → model inputs (`records.length × d`, row-major). A missing feature, an unknown
   * category, a non-number, a value outside the declared bounds or off its grid is refused in one
   * line naming the row and the feature; `rowName(i)` names row i (default `row i+1`).
   */
  encode(records: readonly TabularRecord[], rowName: (i: number) => string = (i) => `row ${i + 1}`): Float32Array {
    const x = new Float32Array(records.length * this.d);
    records.forEach((r, i) => this.encodeInto(r, x.subarray(i * this.d, (i + 1) * this.d), rowName(i)));
    return x;
  }

  private encodeInto(r: TabularRecord, out: Float32Array, where: string): void {
    for (let j = 0; j < this.columns.length; j++) this.encodeField(j, r[this.columns[j]!.name], out, where);
  }

  /**
   * Encodes one row given as values in column order (numbers, or the file's text) into `out`
   * (`d` values), with the same checks and messages as {@link encode}.
   */
  encodeRow(values: ArrayLike<number | string>, out: Float32Array, where: string): void {
    for (let j = 0; j < this.columns.length; j++) this.encodeField(j, values[j], out, where);
  }

  private encodeField(j: number, v: number | string | undefined, out: Float32Array, where: string): void {
    const c = this.columns[j]!;
    if (v === undefined) this.fieldError(where, c, 'missing');
    if (c.kind === 'categorical') {
      const k = this.catIndex[j]!.get(String(v).trim()) ?? -1;
      if (k < 0) this.fieldError(where, c, `unknown category ${JSON.stringify(v)}; the schema allows ${c.categories!.join(', ')}`);
      for (let i = 0; i < c.width; i++) out[c.offset + i] = i === k ? 1 : 0;
      return;
    }
    const n = typeof v === 'number' ? v : String(v).trim() === '' ? NaN : Number(v);
    if (!Number.isFinite(n)) this.fieldError(where, c, `${JSON.stringify(v)} is not a number`);
    if (n < c.min || n > c.max) this.fieldError(where, c, `${n} lies outside [${c.min}, ${c.max}] declared in the schema`);
    if (c.step !== undefined && !(c.step === 1 && Number.isInteger(n - c.min)) && Math.abs(this.snap(c, n) - n) > 1e-9 * Math.max(1, Math.abs(n))) {
      this.fieldError(where, c, `${n} is not on the grid ${c.min} + k·${c.step}`);
    }
    out[c.offset] = this.encodeValue(c, n);
  }

  private fieldError(where: string, c: EncodedColumn, msg: string): never {
    throw new UserError(`${where}, field ${c.name}: ${msg}`);
  }

  /**
   * One model input → its raw values, one per schema feature (categorical: the category index
   * of the group's largest entry), each rounded onto its grid and clipped into its bounds.
   * With `only`, just those columns are decoded (the others are left as they are in `out`).
   */
  decodeValues(x: Float32Array, only?: readonly number[], out = new Float64Array(this.columns.length)): Float64Array {
    if (only) for (const j of only) out[j] = this.decodeAt(x, j);
    else for (let j = 0; j < this.columns.length; j++) out[j] = this.decodeAt(x, j);
    return out;
  }

  /** Raw value of column `j` of one model input (see {@link decodeValues}). */
  decodeAt(x: Float32Array, j: number): number {
    const c = this.columns[j]!;
    if (c.kind === 'categorical') {
      let best = 0;
      for (let k = 1; k < c.width; k++) if (x[c.offset + k]! > x[c.offset + best]!) best = k;
      return best;
    }
    // Memoised per column: the relations of a domain test one row in turn and share columns.
    const v = x[c.offset]!;
    if (v === this.lastIn[j]) return this.lastOut[j]!;
    const r = this.snap(c, this.decodeValue(c, v));
    this.lastIn[j] = v;
    this.lastOut[j] = r;
    return r;
  }

  private readonly lastIn: Float64Array;
  private readonly lastOut: Float64Array;

  /** Raw values (as from {@link decodeValues}) → a record. */
  toRecord(values: Float64Array): TabularRecord {
    const r: TabularRecord = {};
    this.columns.forEach((c, j) => {
      r[c.name] = c.kind === 'categorical' ? c.categories![values[j]!]! : values[j]!;
    });
    return r;
  }

  /**
   * Model inputs (`n × d`) → raw records, rounded onto the grids (see {@link decodeValues}).
   *
   * @example
   * ```ts
   * const [record] = enc.decode(xAdv.subarray(0, enc.d));
   * ```
   */
  decode(x: Float32Array): TabularRecord[] {
    if (x.length % this.d !== 0) throw new UserError(`model input of length ${x.length} is not a whole number of ${this.d}-feature rows`);
    const out: TabularRecord[] = [];
    for (let i = 0; i < x.length; i += this.d) out.push(this.toRecord(this.decodeValues(x.subarray(i, i + this.d))));
    return out;
  }

  /**
   * Differentiable raw values of every model-input feature of a `[b, d]` batch (not rounded):
   * numeric features decoded, one-hot entries as they are. A few ops for the whole batch.
   */
  decodeAll(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const v = this.decodeVectors();
      return tf.add(v.min, tf.where(v.isLog, tf.expm1(tf.mul(x, v.logSpan)), tf.mul(x, v.span)));
    });
  }

  private vectors?: { min: Float32Array; span: Float32Array; logSpan: Float32Array; isLog: Uint8Array };

  /** Per-feature decoding constants, as tensors made for the caller's tidy. */
  private decodeVectors(): { min: tf.Tensor1D; span: tf.Tensor1D; logSpan: tf.Tensor1D; isLog: tf.Tensor2D } {
    this.vectors ??= this.decodeArrays();
    const v = this.vectors;
    return { min: tf.tensor1d(v.min), span: tf.tensor1d(v.span), logSpan: tf.tensor1d(v.logSpan), isLog: tf.tensor2d(v.isLog, [1, this.d], 'bool') };
  }

  private decodeArrays(): NonNullable<TabularEncoding['vectors']> {
    const min = new Float32Array(this.d);
    const span = new Float32Array(this.d);
    const logSpan = new Float32Array(this.d);
    const isLog = new Uint8Array(this.d);
    for (const c of this.columns) {
      if (c.kind === 'categorical') span.fill(1, c.offset, c.offset + c.width);
      else {
        min[c.offset] = c.min;
        const s = c.max - c.min;
        if (s > 0 && c.scale === 'log') [isLog[c.offset], logSpan[c.offset]] = [1, Math.log1p(s)];
        else span[c.offset] = Math.max(0, s);
      }
    }
    return { min, span, logSpan, isLog };
  }

  /** Differentiable raw values of numeric column `j` from a `[b, d]` batch: `[b]` (not rounded). */
  decodeColumn(x: tf.Tensor2D, j: number): tf.Tensor1D {
    const c = this.columns[j]!;
    return tf.tidy(() => {
      const v = tf.reshape(tf.slice(x, [0, c.offset], [x.shape[0], 1]), [x.shape[0]]) as tf.Tensor1D;
      const span = c.max - c.min;
      if (span <= 0) return tf.fill([x.shape[0]], c.min) as tf.Tensor1D;
      return c.scale === 'log' ? tf.add(tf.expm1(tf.mul(v, Math.log1p(span))), c.min) : tf.add(tf.mul(v, span), c.min);
    });
  }

  /** The one-hot entries of categorical column `j` for categories `cats` (indices), summed: `[b]`. */
  indicator(x: tf.Tensor2D, j: number, cats: readonly number[]): tf.Tensor1D {
    const c = this.columns[j]!;
    return tf.tidy(() => {
      const parts = cats.map((k) => tf.slice(x, [0, c.offset + k], [x.shape[0], 1]));
      return tf.reshape(parts.length === 1 ? parts[0]! : tf.addN(parts), [x.shape[0]]) as tf.Tensor1D;
    });
  }

  /** Sets numeric column `j` of one model input to the encoding of raw value `v` (snapped onto its grid). */
  setValue(x: Float32Array, j: number, v: number): void {
    const c = this.columns[j]!;
    x[c.offset] = this.encodeValue(c, this.snap(c, v));
  }

  /** Sets categorical column `j` of one model input to category index `k`. */
  setCategory(x: Float32Array, j: number, k: number): void {
    const c = this.columns[j]!;
    for (let i = 0; i < c.width; i++) x[c.offset + i] = i === k ? 1 : 0;
  }

  /**
   * The feasible set in model-input units: the unit box (a constant feature: [0, 0]), linear
   * grids as integer features, one-hot groups, every feature an attacker does not control as
   * immutable, and the schema's relations compiled (plus a grid relation for each log-scaled
   * feature with a step, whose grid is not uniform in model-input units). Attacks' repairs round
   * integer features to the nearest grid value (`integerRounding: 'nearest'`) where the threat's
   * ball allows it: a record's integer counts and {-1, 0, 1} codes move by whole steps, and
   * truncating towards the clean record would let a gradient step of less than a whole cell
   * never change them.
   */
  domain(): Domain {
    if (this.domainCache) return this.domainCache;
    const upper = new Float32Array(this.d).fill(1);
    const integers: IntegerFeature[] = [];
    const oneHot: OneHotGroup[] = [];
    const immutable: number[] = [];
    const relations: Relation[] = [];
    this.columns.forEach((c, j) => {
      const span = c.max - c.min;
      if (c.kind === 'categorical') oneHot.push({ offset: c.offset, width: c.width, name: c.name });
      else if (span <= 0) upper[c.offset] = 0;
      else if (c.step !== undefined && c.scale === 'linear') integers.push({ index: c.offset, step: c.step / span });
      else if (c.step !== undefined) relations.push(gridRelation(this, j));
      if (!c.controllable) for (let f = c.offset; f < c.offset + c.width; f++) immutable.push(f);
    });
    relations.unshift(...compileRelations(this, new Set(immutable)));
    this.domainCache = { lower: new Float32Array(this.d), upper, integers, oneHot, immutable, relations, integerRounding: 'nearest' };
    return this.domainCache;
  }

  /** The JSON saved as `tabular.json` beside a model. */
  toJSON(): TabularEncodingJson {
    return { format: 'advtrain/tabular-encoding@1', schema: this.schema };
  }

  /**
   * Restores an encoding from {@link toJSON}'s form; `source` names it in errors.
   *
   * @example
   * ```ts
   * const enc = TabularEncoding.fromJSON(JSON.parse(readFileSync('runs/m/tabular.json', 'utf8')), 'runs/m/tabular.json');
   * ```
   */
  static fromJSON(json: unknown, source = '<tabular.json>'): TabularEncoding {
    const j = json as Partial<TabularEncodingJson> | null;
    if (typeof j !== 'object' || j === null || j.format !== 'advtrain/tabular-encoding@1') {
      throw new UserError(`${source}: format: expected "advtrain/tabular-encoding@1"; the file is not a tabular encoding`);
    }
    return new TabularEncoding(parseSchema(j.schema, `${source} (schema)`));
  }
}

/**
 * A `[b, d]` batch decoded differentiably for relations to read, each feature at most once:
 * `shared` decodes the whole batch in a few ops and splits it (for many relations at once),
 * otherwise each feature read is sliced and decoded alone (for one relation). Create it inside a
 * `tf.tidy`.
 */
export class DecodedBatch {
  private features?: tf.Tensor1D[];
  private readonly sliced = new Map<number, tf.Tensor1D>();
  constructor(
    readonly enc: TabularEncoding,
    readonly x: tf.Tensor2D,
    readonly shared = false,
  ) {}

  /** Number of examples. */
  get size(): number {
    return this.x.shape[0];
  }

  private decoded?: tf.Tensor2D;

  /** Raw values of every model-input feature, `[b, d]` (shared mode). */
  matrix(): tf.Tensor2D {
    this.decoded ??= this.enc.decodeAll(this.x);
    return this.decoded;
  }

  private all(): tf.Tensor1D[] {
    this.features ??= tf.unstack(this.matrix(), 1) as tf.Tensor1D[];
    return this.features;
  }

  /** Raw values of numeric column `j`: `[b]`. */
  column(j: number): tf.Tensor1D {
    if (this.shared) return this.all()[this.enc.columns[j]!.offset]!;
    let t = this.sliced.get(j);
    if (!t) this.sliced.set(j, (t = this.enc.decodeColumn(this.x, j)));
    return t;
  }

  /** The one-hot entries of categorical column `j` for categories `cats`, summed: `[b]`. */
  entries(j: number, cats: readonly number[]): tf.Tensor1D {
    if (!this.shared) return this.enc.indicator(this.x, j, cats);
    const off = this.enc.columns[j]!.offset;
    const parts = cats.map((k) => this.all()[off + k]!);
    return parts.length === 1 ? parts[0]! : tf.addN(parts);
  }
}
