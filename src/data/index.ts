import { basename } from 'node:path';
import { UserError } from '../errors.js';
import { splitValidation } from './batching.js';
import { loadCsv } from './csv.js';
import type { Dataset, DataSplits } from './dataset.js';
import type { Domain } from './domain.js';
import { loadFashionMnist } from './fashion-mnist.js';
import { loadIdxPair, loadMnist } from './mnist.js';
import { loadSpam, type SpamSplit } from './spam.js';
import { loadTextCsv } from './text-csv.js';
import type { TextSplits } from './text-dataset.js';
import { loadNslKdd } from '../tabular/nsl-kdd.js';
import { loadPhishing } from '../tabular/phishing.js';
import { loadTabularCsv } from '../tabular/csv-tabular.js';

export * from './batching.js';
export * from './csv.js';
export * from './dataset.js';
export * from './domain.js';
export * from './fashion-mnist.js';
export * from './idx.js';
export * from './mnist.js';
export * from './rng.js';
export * from './text-dataset.js';
export * from './spam.js';
export * from './mime.js';
export * from './text-csv.js';

/**
 * Options every loader accepts (each uses the ones that apply to it).
 *
 * @example
 * ```ts
 * const opts: LoadOptions = { seed: 1, testFraction: 0.25, labelColumn: 'class' };
 * const { train, test } = await loadDataset('data/flows.csv', opts);
 * ```
 */
export interface LoadOptions {
  /** Seed of any split the loader makes (fashion-mnist, csv, idx without test files); default 0. */
  seed?: number;
  /** Share of a single file held out as test set (csv, idx with 2 paths); default 0.2. */
  testFraction?: number;
  /** CSV: name of the label column; default the last column. */
  labelColumn?: string;
  /** CSV: columns to one-hot encode even if they look numeric. */
  categorical?: string[];
  /** CSV: columns an attacker cannot change. */
  immutable?: string[];
  /** Text CSV (`csv:FILE`): name of the text column; default 'text'. */
  textColumn?: string;
  /** Spam: how the corpus is split (default per name: 'spam' stratified, 'spam-collection' by collection). */
  split?: SpamSplit;
  /** `csv:FILE`: the tabular schema describing the table (feature types, bounds, relations). */
  schema?: string;
}

/** A named data set the CLI and the library can load by name. */
export interface DatasetEntry {
  /** One line for `--help` and error messages. */
  description: string;
  /** A table of records (its test split is a `TabularDataset`, written back in its own raw format). */
  tabular?: boolean;
  load(opts: LoadOptions): DataSplits | Promise<DataSplits>;
}

/**
 * The built-in named data sets. Add a loader here (one line) to make `loadDataset(name)`
 * and the CLI know it; plug-ins may also call {@link registerDataset} at run time.
 */
const REGISTRY = new Map<string, DatasetEntry>([
  ['mnist', { description: 'MNIST digits, 60,000/10,000, 28×28×1', load: () => loadMnist() }],
  [
    'fashion-mnist',
    {
      description: 'Fashion-MNIST, seeded stratified 60,000/10,000 split, 28×28×1',
      load: (o) => loadFashionMnist({ seed: o.seed ?? 0 }),
    },
  ],
  ['nsl-kdd', { tabular: true, description: 'NSL-KDD intrusion records, normal/attack: KDDTrain+_20Percent 25,192 / KDDTest+ 22,544, 122 encoded features', load: () => loadNslKdd({ classes: 'binary' }) }],
  ['nsl-kdd-5', { tabular: true, description: 'NSL-KDD, 5 classes (normal, DoS, Probe, R2L, U2R)', load: () => loadNslKdd({ classes: '5-class' }) }],
  ['phishing', { tabular: true, description: 'UCI Phishing Websites, 5,849 distinct rows, seeded 80/20 split by feature vector, 30 features in {-1,0,1}', load: (o) => loadPhishing({ seed: o.seed ?? 0, testFraction: o.testFraction }) }],
  ['nsl-kdd-21', { tabular: true, description: 'NSL-KDD normal/attack, tested on the hard subset KDDTest-21 (11,850)', load: () => loadNslKdd({ classes: 'binary', test: 'KDDTest-21.txt' }) }],
]);

/** A named text data set: raw labelled texts, turned into token ids by the model's vocabulary. */
export interface TextDatasetEntry {
  description: string;
  load(opts: LoadOptions): TextSplits | Promise<TextSplits>;
}

const TEXT_REGISTRY = new Map<string, TextDatasetEntry>([
  [
    'spam',
    {
      description: 'SpamAssassin ham/spam, deduplicated, seeded stratified 80/20 split (--split collection: by collection)',
      load: (o) => loadSpam({ split: o.split ?? 'stratified', seed: o.seed ?? 0, testFraction: o.testFraction }),
    },
  ],
  [
    'spam-collection',
    {
      description: 'SpamAssassin split by collection: easy-ham-1, hard-ham-1, spam-1 train; easy-ham-2, spam-2 test',
      load: (o) => loadSpam({ split: o.split ?? 'collection', seed: o.seed ?? 0 }),
    },
  ],
]);

/** Forms of name that are not registry entries, for help and error messages. */
const PATTERNS = ['idx:IMAGES,LABELS[,TEST_IMAGES,TEST_LABELS]', 'PATH.csv', 'csv:FILE (texts: --text-column, --label-column)', 'csv:FILE --schema SCHEMA (a table)'];

/**
 * Adds (or replaces) a named data set.
 *
 * @example
 * ```ts
 * registerDataset('toy', { description: 'two blobs', load: () => makeBlobs() });
 * ```
 */
export function registerDataset(name: string, entry: DatasetEntry): void {
  if (name.startsWith('idx:') || name.startsWith('csv:') || name.toLowerCase().endsWith('.csv') || name.trim() === '' || TEXT_REGISTRY.has(name)) {
    throw new UserError(`cannot register a data set named "${name}": names starting with idx: or csv:, ending in .csv, or naming a text data set are reserved`);
  }
  REGISTRY.set(name, entry);
}

/**
 * The names `loadDataset` accepts, registry entries first, then the path patterns.
 *
 * @example
 * ```ts
 * console.log(knownDatasets().join(', ')); // mnist, fashion-mnist, idx:…, PATH.csv
 * ```
 */
export function knownDatasets(): string[] {
  return [...REGISTRY.keys(), ...TEXT_REGISTRY.keys(), ...PATTERNS];
}

/**
 * Whether a data set name names raw texts (`spam`, `spam-collection`, `csv:FILE` without a tabular
 * `schema`) rather than feature arrays: load those with {@link loadTextDataset}.
 *
 * @example
 * ```ts
 * isTextDataset('spam');          // true
 * isTextDataset('csv:sms.csv');   // true
 * isTextDataset('flows.csv');     // false (a tabular CSV)
 * isTextDataset('csv:flows.csv', { schema: 'flows.json' }); // false (a table with its schema)
 * ```
 */
export function isTextDataset(name: string, opts: Pick<LoadOptions, 'schema'> = {}): boolean {
  return TEXT_REGISTRY.has(name) || (name.startsWith('csv:') && opts.schema === undefined);
}

/**
 * Whether a data set name names a table of records: a registered tabular set (`nsl-kdd`,
 * `phishing`, …) or `csv:FILE` with a tabular `schema`. Its test split is then a
 * `TabularDataset`, whose adversarial records are written back in the data set's own format.
 *
 * @example
 * ```ts
 * isTabularDataset('nsl-kdd');                                  // true
 * isTabularDataset('csv:flows.csv', { schema: 'flows.json' });  // true
 * isTabularDataset('mnist');                                    // false
 * ```
 */
export function isTabularDataset(name: string, opts: Pick<LoadOptions, 'schema'> = {}): boolean {
  return REGISTRY.get(name)?.tabular === true || (name.startsWith('csv:') && opts.schema !== undefined);
}

/**
 * Loads a text data set by name: `spam` (stratified split, or `split: 'collection'`),
 * `spam-collection`, or `csv:FILE` (a user's texts: `textColumn`, `labelColumn`, seeded
 * stratified split by `testFraction`).
 *
 * @example
 * ```ts
 * const { train, test } = await loadTextDataset('spam', { seed: 0 });
 * const mine = await loadTextDataset('csv:sms.csv', { textColumn: 'message', labelColumn: 'label' });
 * ```
 */
export async function loadTextDataset(name: string, opts: LoadOptions = {}): Promise<TextSplits> {
  const entry = TEXT_REGISTRY.get(name);
  if (entry !== undefined) return entry.load(opts);
  if (name.startsWith('csv:')) {
    const path = name.slice(4);
    if (path.trim() === '') throw new UserError('csv: needs a file: --dataset csv:FILE --text-column C --label-column L');
    return loadTextCsv(path, { textColumn: opts.textColumn, labelColumn: opts.labelColumn, seed: opts.seed, testFraction: opts.testFraction });
  }
  throw new UserError(`"${name}" is not a text data set; text data sets: ${[...TEXT_REGISTRY.keys()].join(', ')}, csv:FILE`);
}

/**
 * Loads a data set by name:
 * - a registered name (`mnist`, `fashion-mnist`, …);
 * - `idx:IMAGES,LABELS` (split seeded by `testFraction`) or `idx:IMAGES,LABELS,TEST_IMAGES,TEST_LABELS`
 *   (paths may be gzip-compressed; they may not contain commas);
 * - a path ending in `.csv` (see {@link loadCsv}), split seeded by `testFraction`;
 * - `csv:PATH` with `schema`: a table described by a tabular schema (see `loadTabularCsv`).
 *
 * @example
 * ```ts
 * const { train, test } = await loadDataset('fashion-mnist', { seed: 1 });
 * const flows = await loadDataset('data/flows.csv', { labelColumn: 'attack', testFraction: 0.25 });
 * ```
 */
export async function loadDataset(name: string, opts: LoadOptions = {}): Promise<DataSplits> {
  const entry = REGISTRY.get(name);
  if (entry !== undefined) return entry.load(opts);
  // csv:FILE falls through: as a feature data set it is a table and needs its schema (below).
  if (TEXT_REGISTRY.has(name)) {
    throw new UserError(`${name} is a text data set (raw texts, not feature arrays): load it with loadTextDataset and a text model's vocabulary (the CLI does so for text-cnn and text-bag)`);
  }
  if (name.startsWith('idx:')) return loadIdxSpec(name.slice(4), opts);
  if (name.startsWith('csv:')) {
    if (!opts.schema) throw new UserError(`data set "${name}" needs a schema describing its features: pass --schema SCHEMA.json (see schemas/nsl-kdd.json), or --text-column C if the file holds texts`);
    return loadTabularCsv(name.slice(4), { schema: opts.schema, labelColumn: opts.labelColumn, seed: opts.seed, testFraction: opts.testFraction });
  }
  if (name.toLowerCase().endsWith('.csv')) {
    const ds = loadCsv(name, { labelColumn: opts.labelColumn, categorical: opts.categorical, immutable: opts.immutable, name: basename(name) });
    return holdOutTest(ds, opts);
  }
  throw new UserError(`unknown data set "${name}"; known: ${knownDatasets().join(', ')}`);
}

function holdOutTest(ds: Dataset, opts: LoadOptions): DataSplits {
  const fraction = opts.testFraction ?? 0.2;
  if (!(fraction > 0 && fraction < 1)) {
    throw new UserError(`test fraction must lie strictly between 0 and 1 (got ${String(fraction)}); e.g. 0.2`);
  }
  const { train, val } = splitValidation(ds, fraction, opts.seed ?? 0);
  return { train: { ...train, name: `${ds.name}/train` }, test: { ...val, name: `${ds.name}/test` } };
}

function loadIdxSpec(spec: string, opts: LoadOptions): DataSplits {
  const paths = spec.split(',').map((p) => p.trim());
  if (!(paths.length === 2 || paths.length === 4) || paths.some((p) => p === '')) {
    throw new UserError(`idx data set "idx:${spec}" needs 2 or 4 comma-separated paths: idx:IMAGES,LABELS[,TEST_IMAGES,TEST_LABELS]`);
  }
  const base = `idx:${basename(paths[0]!)}`;
  if (paths.length === 2) return holdOutTest(loadIdxPair(paths[0]!, paths[1]!, base), opts);
  const train = loadIdxPair(paths[0]!, paths[1]!, `${base}/train`);
  const test = loadIdxPair(paths[2]!, paths[3]!, `${base}/test`);
  if (train.shape.join('x') !== test.shape.join('x')) {
    throw new UserError(
      `idx train images have shape [${train.shape.join(', ')}] but test images [${test.shape.join(', ')}]; pass files of the same data set`,
    );
  }
  const numClasses = Math.max(train.numClasses, test.numClasses);
  const classNames = Array.from({ length: numClasses }, (_, i) => String(i));
  const domain = unionDomain(train.domain, test.domain);
  return {
    train: { ...train, numClasses, classNames, domain },
    test: { ...test, numClasses, classNames: [...classNames], domain },
  };
}

function unionDomain(a: Domain, b: Domain): Domain {
  if (typeof a.lower === 'number' && typeof b.lower === 'number' && typeof a.upper === 'number' && typeof b.upper === 'number') {
    if (a.lower === b.lower && a.upper === b.upper) return a;
    return { lower: Math.min(a.lower, b.lower), upper: Math.max(a.upper, b.upper) };
  }
  return a;
}
