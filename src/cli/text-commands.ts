import { Option } from 'commander';
import { loadTextDataset, type LoadOptions } from '../data/index.js';
import { takeTexts, type TextDataset } from '../data/text-dataset.js';
import { SPAM_SPLITS, type SpamSplit } from '../data/spam.js';
import { UserError } from '../errors.js';
import { existsSync, rmSync } from 'node:fs';
import { checkOutputPaths, writeFileAtomic } from '../fsutil.js';
import { checkModelPath } from '../model/io.js';
import { createTextAttack, isTextAttack, textAttackNames } from '../text/attack/recipes.js';
import { isTextModel, loadTextClassifier } from '../text/text-model-io.js';
import { defaultTokenizer } from '../text/tokenizer.js';
import { parseTextThreat } from '../threat/text-threat.js';
import { defaultAttackedClasses, runTextAttack, scoreTexts } from '../eval/text-attack-run.js';
import { evaluateText, textPreset } from '../eval/text-eval.js';
import { writeTextExamples } from '../eval/text-examples-writer.js';
import { ATTACK_SCHEMA, type AttackFileResult, type EvalResultV2 } from '../eval/schema.js';
import { writeReport } from '../report/html.js';
import { labelColumnOption, schemaOption } from './options.js';
import { log, startEngine } from './common.js';
import { resultStamp } from '../eval/result-header.js';
import { modelDigest } from '../eval/run-state.js';

/** The options `attack` and `eval` read for `spam` and `csv:FILE` data sets (texts, or a table with `schema`). */
export interface TextDataCliOptions {
  split?: string;
  textColumn?: string;
  labelColumn?: string;
  /** csv:FILE tables: the tabular schema. */
  schema?: string;
}

/**
 * `attack` / `eval` options of text data sets and csv:FILE tables: the spam split, a CSV's columns
 * and a table's schema (use the same --split, --seed and --schema the model was trained with, so
 * its test examples stay unseen).
 *
 * @example
 * ```ts
 * for (const opt of textDataOptions()) cmd.addOption(opt);
 * ```
 */
export function textDataOptions(): Option[] {
  return [
    new Option('--split <kind>', 'spam: stratified (seeded by --seed) or collection — as the model was trained').choices(SPAM_SPLITS),
    new Option('--text-column <name>', "csv:FILE texts: the column holding the text (default 'text')"),
    labelColumnOption(),
    schemaOption(),
  ];
}

/** The text threat of a command: words:SHARE (default words:0.1); the image default linf:0.3 means "not given". */
function textThreatSpec(threat: string | undefined): string {
  const spec = threat === undefined || threat === 'linf:0.3' ? 'words:0.1' : threat;
  parseTextThreat(spec, defaultTokenizer()); // the form, before any work
  return spec;
}

/** Refuses a model that is not a saved text model (folder with text.json), before any loading. */
function checkTextModel(path: string, dataset: string): void {
  checkModelPath(path);
  if (!isTextModel(path)) throw new UserError(`${dataset} is a text data set but ${path} is not a text model (no text.json beside model.json): train one with advtrain train --dataset ${dataset} --model text-cnn`);
}

/**
 * The messages a text command works on: the first `n` test messages of the attacked classes
 * (the spam: the spammer attacks spam, not ham), in data-set order.
 */
async function textTest(dataset: string, o: TextDataCliOptions & { seed: number }, n: number): Promise<TextDataset> {
  const opts: LoadOptions = { seed: o.seed, split: o.split as SpamSplit | undefined, textColumn: o.textColumn, labelColumn: o.labelColumn };
  const { test } = await loadTextDataset(dataset, opts);
  const classes = defaultAttackedClasses(test.classNames);
  const rows = Array.from({ length: test.n }, (_, i) => i).filter((i) => classes.includes(test.y[i]!)).slice(0, n);
  if (rows.length === 0) throw new UserError(`${dataset} has no test messages of class ${classes.map((c) => test.classNames[c]).join(', ')} to attack`);
  return takeTexts(test, rows, `${test.name} (${classes.map((c) => test.classNames[c]).join(', ')})`);
}

/** Options of `advtrain attack` on a text data set. */
export interface TextAttackCliOptions extends TextDataCliOptions {
  model: string;
  dataset: string;
  attack: string;
  threat?: string;
  n: number;
  seed: number;
  queries?: number;
  params?: Record<string, unknown>;
  json?: string;
  saveExamples?: string;
  backend: string;
  threads?: number;
  /** Image-attack flags: refused here. */
  steps?: number;
  restarts?: number;
  stepSize?: number;
  loss?: string;
  targeted?: boolean;
  surrogate?: string;
}

/**
 * `advtrain attack --dataset spam --attack pwws --model DIR`: a text attack over the correctly
 * detected spam among the first N test messages, every result re-verified; prints the figures,
 * writes `advtrain/attack@1` JSON (distance in share of words) and `--save-examples FILE.jsonl`.
 *
 * @example
 * ```ts
 * await runTextAttackCommand({ model: 'runs/text-cnn', dataset: 'spam', attack: 'pwws', n: 500, seed: 0, backend: 'auto', saveExamples: 'pwws.jsonl' });
 * ```
 */
export async function runTextAttackCommand(o: TextAttackCliOptions): Promise<AttackFileResult> {
  if (!isTextAttack(o.attack)) throw new UserError(`${o.dataset} is a text data set: attack it with --attack ${textAttackNames().join(', ')} (not ${o.attack})`);
  const refused = (['steps', 'restarts', 'stepSize', 'loss', 'targeted', 'surrogate'] as const).filter((k) => o[k] !== undefined && o[k] !== false);
  if (refused.length) throw new UserError(`--${refused[0]!.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} does not apply to text attacks: set their settings with --queries or --params (${o.attack}: ${Object.keys(createTextAttack(o.attack).params).join(', ')})`);
  const attack = createTextAttack(o.attack, { ...(o.queries ? { maxQueries: o.queries } : {}), ...o.params });
  const spec = textThreatSpec(o.threat);
  checkOutputPaths([o.json !== undefined && { flag: '--json', path: o.json, kind: 'file' }, o.saveExamples !== undefined && { flag: '--save-examples', path: o.saveExamples, kind: 'file' }]);
  checkTextModel(o.model, o.dataset);
  const engine = await startEngine(o, log);
  const test = await textTest(o.dataset, o, o.n);
  const clf = await loadTextClassifier(o.model);
  const threat = parseTextThreat(spec, clf.tokenizer);
  const clean = scoreTexts(clf, test.texts, test.y);
  const correct = clean.pred.reduce((s, p, i) => s + (p === test.y[i] ? 1 : 0), 0);
  log(`attack ${attack.name} ${JSON.stringify(attack.params)} at ${threat} on the correctly detected spam of ${test.n} ${o.dataset} test messages`);
  const r = await runTextAttack(clf, test, attack, {
    threat,
    seed: o.seed,
    cleanPred: clean.pred,
    onMessage: (done, total) => (done % 25 === 0 || done === total) && log(`${attack.name}: ${done}/${total} messages`),
  });
  const result: AttackFileResult = {
    schema: ATTACK_SCHEMA,
    model: { path: o.model },
    data: { dataset: o.dataset, split: 'test', n: test.n },
    attack: { name: attack.name, params: attack.params, threat: threat.toString(), targeted: false },
    clean_accuracy: test.n ? correct / test.n : 0,
    robust_accuracy: test.n ? (correct - r.succeeded) / test.n : 0,
    success_rate: r.success_rate,
    attacked: r.attacked,
    distance: { norm: threat.measure, median: r.words_changed.median, mean: r.words_changed.mean, max: r.words_changed.max },
    queries: r.queries,
    time_s: r.time_s,
    ...resultStamp(o.seed, { engine }),
  };
  const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(1)}%`);
  process.stdout.write(
    `${attack.name} at ${threat}: success ${pct(r.success_rate)} of ${r.attacked} correctly detected spam (${r.unverified} claimed successes refused by re-verification); ` +
      `words changed median ${pct(r.words_changed.median)}; queries median ${r.queries.median ?? '-'}; ${r.seconds_per_message.toFixed(2)} s/message (${r.time_s.toFixed(1)} s)\n`,
  );
  if (o.json) {
    writeFileAtomic(o.json, JSON.stringify(result, null, 2) + '\n');
    log(`results written to ${o.json}`);
  }
  if (o.saveExamples) {
    writeTextExamples(o.saveExamples, r.examples);
    log(`${r.examples.length} attacked messages written to ${o.saveExamples}`);
  }
  return result;
}

/** Options of `advtrain eval` on a text data set. */
export interface TextEvalCliOptions extends TextDataCliOptions {
  model: string;
  dataset: string;
  threat?: string;
  preset: string;
  n: number;
  seed: number;
  json?: string;
  report?: string;
  saveExamples?: string;
  backend: string;
  threads?: number;
  argv?: string[];
}

/**
 * `advtrain eval --dataset spam --preset text --model DIR`: per-message worst case over the five
 * text attacks on the correctly detected spam among the first N test messages; `advtrain/eval@2`
 * JSON with its `text` section, the HTML report, and `--save-examples FILE.jsonl`.
 *
 * @example
 * ```ts
 * await runTextEvalCommand({ model: 'runs/text-cnn', dataset: 'spam', preset: 'text', n: 500, seed: 0, backend: 'auto', json: 'eval.json' });
 * ```
 */
export async function runTextEvalCommand(o: TextEvalCliOptions): Promise<EvalResultV2> {
  if (o.preset !== 'text' && o.preset !== 'standard') throw new UserError(`${o.dataset} is a text data set: evaluate it with --preset text (not ${o.preset})`);
  const spec = textThreatSpec(o.threat);
  checkOutputPaths([
    o.json !== undefined && { flag: '--json', path: o.json, kind: 'file' },
    o.report !== undefined && { flag: '--report', path: o.report, kind: 'file' },
    o.saveExamples !== undefined && { flag: '--save-examples', path: o.saveExamples, kind: 'file' },
  ]);
  checkTextModel(o.model, o.dataset);
  const engine = await startEngine(o, log);
  const test = await textTest(o.dataset, o, o.n);
  const clf = await loadTextClassifier(o.model);
  const threat = parseTextThreat(spec, clf.tokenizer);
  log(`evaluating ${o.model} on the first ${test.n} ${o.dataset} test messages at ${threat}, preset text (${textPreset().map((a) => a.name).join(', ')})`);
  const statePath = o.json ? `${o.json}.state` : undefined;
  if (statePath && existsSync(statePath)) log(`resuming the evaluation saved in ${statePath}`);
  const { result, examples } = await evaluateText(clf, test, {
    threat,
    seed: o.seed,
    statePath,
    stateSettings: { '--model': modelDigest(o.model), '--split': o.split ?? null, '--text-column': o.textColumn ?? null, '--label-column': o.labelColumn ?? null },
    describe: { model: { path: o.model }, dataset: o.dataset, engine },
    command: { argv: o.argv ?? ['advtrain', 'eval', '--model', o.model, '--dataset', o.dataset, '--preset', 'text', '--threat', spec, '--n', String(o.n), '--seed', String(o.seed)], cwd: process.cwd() },
    onProgress: (stage, done, total) => (done % 50 === 0 || done === total) && log(`${stage}: ${done}/${total}`),
  });
  const t = result.text!;
  const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(1)}%`);
  process.stdout.write(
    [
      `clean accuracy   ${pct(result.clean_accuracy)} (${result.data.n} messages)`,
      `worst case over ${t.attacks.length} attacks: success ${pct(t.success_rate)} of ${t.attacked} correctly detected ${t.attacked_classes.join(', ')}; words changed median ${pct(t.words_changed.median)}; queries median ${t.queries_per_example.median ?? '-'}`,
      ...t.attacks.map((a) => `  ${a.name.padEnd(13)} success ${pct(a.success_rate)} of ${a.attacked}, words ${pct(a.words_changed.median)}, queries ${a.queries.median ?? '-'}, ${a.seconds_per_message.toFixed(2)} s/message`),
      `margin gap       confidence ${result.margin.gap.confidence.toFixed(3)}, logit margin ${result.margin.gap.margin.toFixed(3)} (clean − adversarial)`,
    ].join('\n') + '\n',
  );
  if (o.json) {
    writeFileAtomic(o.json, JSON.stringify(result) + '\n');
    log(`results written to ${o.json}`);
  }
  if (o.report) {
    await writeReport(o.report, result);
    log(`report written to ${o.report}`);
  }
  if (o.saveExamples) {
    writeTextExamples(o.saveExamples, examples);
    log(`${examples.length} attacked messages written to ${o.saveExamples}`);
  }
  // Last: a run killed before every file is written resumes from its (finished) state and writes them all.
  if (statePath) rmSync(statePath, { force: true });
  return result;
}
