import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { infeasibility } from '../data/domain.js';
import type { Classifier } from '../model/classifier.js';
import { formatTabularExamples, formatValue, parseTabularRecords } from '../tabular/raw-writer.js';
import type { TabularDataset } from '../tabular/tabular-dataset.js';
import { readBack } from '../engine/read-back.js';

/** One attacked record to save: its index in the data set, its adversarial model input and the model's clean prediction. */
export interface AttackedRecord {
  index: number;
  xAdv: Float32Array;
  predictedBefore: number;
  /** The attack that produced it (an ensemble's member), if known. */
  attack?: string;
}

/**
 * The verdict on one saved adversarial record, as written to the sidecar `FILE.jsonl`: labels
 * and predictions are class names; `predicted_after` and `valid` are measured on the record as
 * written (read back from the text, through the same parser `advtrain predict` uses), and
 * `changed_features` names the schema features whose written value differs from the clean record's.
 */
export interface TabularVerdict {
  index: number;
  label: string;
  predicted_before: string;
  predicted_after: string;
  valid: boolean;
  changed_features: string[];
  /** Why the record is invalid (the first rule it breaks), when it is. */
  invalid_because?: string;
  attack?: string;
}

/** What {@link formatTabularAttackExamples} produces. */
export interface TabularExamplesText {
  /** The records in the data set's own format (an NSL-KDD line, an ARFF file, a CSV table). */
  records: string;
  /** One JSON verdict per record, same order. */
  verdicts: TabularVerdict[];
}

const BATCH = 256;

/** Class predictions of `n` model inputs, in batches (no tensors left behind). */
function predictRows(clf: Classifier, x: Float32Array, n: number, d: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i += BATCH) {
    const m = Math.min(BATCH, n - i);
    const pred = readBack(() => tf.argMax(clf.logits(tf.tensor2d(x.subarray(i * d, (i + m) * d), [m, d])), 1));
    out.set(pred, i);
  }
  return out;
}

/**
 * The adversarial records of an attack as the data set's own raw text, with a verdict per
 * record. The text is parsed back before anything is judged, so each verdict is about the
 * record a reader of the file gets: its prediction by `clf` (the model attacked, on its own
 * feasible set) and whether it is valid in the data set's domain (box, grids, categories,
 * features the attacker does not control against the clean record, relations).
 *
 * @example
 * ```ts
 * const { records, verdicts } = formatTabularAttackExamples('adv.txt', test, clf, kept.map((k) => ({ index: k.index, xAdv: k.xAdv, predictedBefore: k.predClean })));
 * ```
 */
export function formatTabularAttackExamples(path: string, ds: TabularDataset, clf: Classifier, recs: readonly AttackedRecord[]): TabularExamplesText {
  const enc = ds.encoding;
  const d = enc.d;
  const x = new Float32Array(recs.length * d);
  recs.forEach((r, k) => x.set(r.xAdv, k * d));
  const indices = recs.map((r) => r.index);
  const records = formatTabularExamples(ds, x, indices);
  const back = parseTabularRecords(records, path, enc, { format: ds.format, labelColumn: ds.tailNames.length === 1 ? ds.tailNames[0] : undefined });
  const after = predictRows(clf, back.x, recs.length, d);
  const clean = new Float32Array(recs.length * d);
  indices.forEach((i, k) => clean.set(ds.x.subarray(i * d, (i + 1) * d), k * d));
  const cleanRecords = enc.decode(clean);
  const name = (c: number) => ds.classNames[c] ?? String(c);
  const verdicts = recs.map((r, k): TabularVerdict => {
    const why = infeasibility(ds.domain, back.x.subarray(k * d, (k + 1) * d), clean.subarray(k * d, (k + 1) * d));
    const changed = enc.columns.filter((c) => formatValue(c, cleanRecords[k]![c.name]!) !== formatValue(c, back.records[k]![c.name]!)).map((c) => c.name);
    return {
      index: r.index,
      label: name(ds.y[r.index]!),
      predicted_before: name(r.predictedBefore),
      predicted_after: name(after[k]!),
      valid: why === undefined,
      changed_features: changed,
      ...(why !== undefined ? { invalid_because: why } : {}),
      ...(r.attack !== undefined ? { attack: r.attack } : {}),
    };
  });
  return { records, verdicts };
}

/** The sidecar of a records file: `FILE.jsonl`. */
export function verdictsPath(path: string): string {
  return `${path}.jsonl`;
}

/**
 * Writes adversarial tabular records in the data set's own format to `path` (NSL-KDD lines, an
 * ARFF file, a CSV table) and one verdict per record to `path.jsonl` (see
 * {@link formatTabularAttackExamples}): what `--save-examples` writes for tabular data, so anyone
 * can replay the records with `advtrain predict --model DIR --input FILE` and check them. Both
 * files are written to temp files first and renamed into place only once both are complete.
 *
 * @example
 * ```ts
 * const verdicts = writeTabularAttackExamples('adv.txt', test, clf, records);
 * console.log(verdicts.filter((v) => v.valid && v.predicted_after !== v.label).length, 'records fool the model');
 * ```
 */
export function writeTabularAttackExamples(path: string, ds: TabularDataset, clf: Classifier, recs: readonly AttackedRecord[]): TabularVerdict[] {
  const { records, verdicts } = formatTabularAttackExamples(path, ds, clf, recs);
  const jsonl = verdicts.map((v) => JSON.stringify(v)).join('\n') + (verdicts.length ? '\n' : '');
  const files: [string, string][] = [[path, records], [verdictsPath(path), jsonl]];
  const tmp = (p: string) => join(dirname(p), `.${basename(p)}.${process.pid}.tmp`);
  mkdirSync(dirname(path), { recursive: true });
  try {
    for (const [p, text] of files) writeFileSync(tmp(p), text);
    for (const [p] of files) renameSync(tmp(p), p);
  } catch (e) {
    for (const [p] of files) rmSync(tmp(p), { force: true });
    throw e;
  }
  return verdicts;
}
