import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { existsSync, rmSync } from 'node:fs';
import { isTabularDataset, isTextDataset, loadDataset } from '../data/index.js';
import { subset } from '../data/batching.js';
import { loadModel } from '../model/io.js';
import { parseAnyThreat } from '../threat/parse.js';
import { evaluate } from '../eval/evaluate.js';
import { parseEpsRange } from '../eval/eps-curve.js';
import { PRESETS } from '../eval/presets.js';
import { isBox } from '../data/domain.js';
import type { EvalResultV2 } from '../eval/schema.js';
import { writeReport } from '../report/html.js';
import { writeFileAtomic } from '../fsutil.js';
import { UserError } from '../errors.js';
import { checkSchemaOption, engineOptions, integer, positiveInt } from './options.js';
import { checkOutputPaths } from '../fsutil.js';
import { verdictsPath, writeTabularAttackExamples } from '../eval/tabular-examples-writer.js';
import type { TabularDataset } from '../tabular/tabular-dataset.js';
import type { ProtocolResult } from '../eval/protocol.js';
import { log, startEngine, warnIfThreatCoversDomain } from './common.js';
import { checkEvalInputs, checkModelFitsData } from './preflight.js';
import { runTextEvalCommand, textDataOptions, type TextDataCliOptions } from './text-commands.js';
import { checkShardInputs, redactRedis, shardOptions, type ShardFlags } from './shard-options.js';
import { runningEngine } from '../eval/evaluate.js';

/** Options of `advtrain eval`. */
export interface EvalOptions extends TextDataCliOptions, Partial<ShardFlags> {
  model: string;
  dataset: string;
  /** Default: l2:0.5 with preset tabular (TabularBench's budget), else linf:0.3. */
  threat?: string;
  preset: string;
  n: number;
  json?: string;
  report?: string;
  epsCurve?: string;
  minimalNorms?: string;
  checks: boolean;
  checkN: number;
  gallery: number;
  batchSize: number;
  seed: number;
  backend: string;
  threads?: number;
  /** Text data: write every attacked message as JSON lines here; tabular data: every attacked record in the data set's format here, and a verdict per record to FILE.jsonl. */
  saveExamples?: string;
  /** The command line as run, recorded in the result (default: the one these options spell). */
  argv?: string[];
}

/** The `advtrain eval` command line these options spell, every option explicit. */
export function evalArgv(o: EvalOptions): string[] {
  const opt = (flag: string, v: string | number | undefined) => (v === undefined ? [] : [flag, String(v)]);
  return [
    'advtrain', 'eval',
    ...opt('--model', o.model), ...opt('--dataset', o.dataset), ...opt('--schema', o.schema), ...opt('--label-column', o.labelColumn), ...opt('--threat', o.threat), ...opt('--preset', o.preset), ...opt('--n', o.n),
    ...opt('--json', o.json), ...opt('--report', o.report), ...opt('--eps-curve', o.epsCurve), ...opt('--minimal-norms', o.minimalNorms),
    ...(o.checks ? opt('--check-n', o.checkN) : ['--no-checks']), ...opt('--gallery', o.gallery), ...opt('--batch-size', o.batchSize),
    ...opt('--seed', o.seed), ...opt('--backend', o.backend), ...opt('--threads', o.threads),
  ];
}

/** The command line as the user typed it, program name first (from the root command's raw arguments). */
function argvAsRun(cmd: Command): string[] | undefined {
  let root = cmd;
  while (root.parent) root = root.parent;
  const raw = (root as unknown as { rawArgs?: string[] }).rawArgs;
  return raw && raw.length >= 2 ? ['advtrain', ...raw.slice(2)] : undefined;
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

/** A progress bar per stage on a terminal, log lines elsewhere. */
function stageProgress(): { update: (stage: string, done: number, total: number) => void; stop: () => void } {
  let bar: cliProgress.SingleBar | undefined;
  let current = '';
  let lastLogged = -1;
  return {
    update(stage, done, total) {
      if (!process.stderr.isTTY) {
        const tenth = Math.floor((10 * done) / Math.max(total, 1));
        if (stage !== current || tenth !== lastLogged) log(`${stage}: ${done}/${total}`);
        current = stage;
        lastLogged = tenth;
        return;
      }
      if (stage !== current) {
        bar?.stop();
        current = stage;
        bar = new cliProgress.SingleBar({ stream: process.stderr, format: `${stage.padEnd(10)} [{bar}] {value}/{total} | eta {eta_formatted}`, clearOnComplete: false }, cliProgress.Presets.shades_classic);
        bar.start(total, done);
      } else bar?.update(done);
    },
    stop: () => bar?.stop(),
  };
}

/** The summary printed after an evaluation: figures with any failed check beside them. */
export function summarise(r: EvalResultV2): string {
  const bad = r.checks.filter((c) => c.verdict === 'fail' || c.verdict === 'warn');
  const flag = bad.length ? `  ⚠ ${bad.map((c) => `${c.verdict}: ${c.name}`).join('; ')}` : '';
  const lines = [
    `clean accuracy   ${pct(r.clean_accuracy)} (${r.data.n} examples)`,
    `robust accuracy  ${pct(r.robust_accuracy)} at ${r.threat}, ${r.preset} (worst case over ${r.attacks.length} attacks)${flag}`,
    ...r.attacks.map((a) => `  after ${a.name.padEnd(10)} ${pct(a.robust_accuracy)}  (ran on ${a.attacked}, ${a.time_s.toFixed(1)} s, median ${a.queries.median} queries)`),
    ...(r.tabular
      ? [
          `valid records    ${pct(r.tabular.validity_rate)} of the adversarial records (${r.attacks.map((a) => `${a.name} ${a.validity_rate === undefined ? '-' : pct(a.validity_rate)} of what it returned`).join(', ')}); features changed per record median ${r.tabular.features_changed.median ?? '-'}, max ${r.tabular.features_changed.max ?? '-'}`,
          ...(r.per_class ?? []).map((c) => `  class ${(r.data.classes?.[c.label] ?? String(c.label)).padEnd(10)} detected clean ${pct(c.clean_accuracy)}, under attack ${pct(c.robust_accuracy)} (${c.n} records)`),
        ]
      : []),
    `margin gap       confidence ${r.margin.gap.confidence.toFixed(3)}, logit margin ${r.margin.gap.margin.toFixed(3)} (clean − adversarial)`,
    ...(r.eps_curve ? [`accuracy vs ε    ${r.eps_curve.map((p) => `${p.eps}: ${pct(p.accuracy)}`).join(', ')}`] : []),
    ...Object.entries(r.minimal_norms ?? {}).map(([k, v]) => `minimal ${k.padEnd(12)} median ${v.median.toFixed(4)}, mean ${v.mean.toFixed(4)}`),
    ...r.checks.map((c) => `check [${c.verdict === 'not-applicable' ? 'N/A ' : c.verdict.toUpperCase().padEnd(4)}] ${c.name}: ${c.verdict === 'not-applicable' ? 'not applicable, ' : ''}${c.detail}`),
  ];
  return lines.join('\n') + '\n';
}

/**
 * Evaluates a saved model: clean accuracy and the worst case over a preset attack ensemble,
 * with margins, checks and optional curves; writes JSON and an HTML report. With --json, the
 * state is saved beside it as it goes, and an interrupted run resumes.
 *
 * @example
 * ```ts
 * const r = await runEval({ model: 'runs/m', dataset: 'mnist', threat: 'linf:0.3', preset: 'standard', n: 1000,
 *   checks: true, checkN: 200, gallery: 10, batchSize: 256, seed: 0, backend: 'auto', json: 'out.json' });
 * ```
 */
export async function runEval(o: EvalOptions): Promise<EvalResultV2> {
  // Raw texts are evaluated by the text preset, through the model's own tokenizer.
  if (isTextDataset(o.dataset, { schema: o.schema })) return runTextEvalCommand(o);
  if (o.preset === 'text') throw new UserError(`--preset text evaluates text models on text data (spam, csv:FILE), not ${o.dataset}: choose ${PRESETS.join(', ')}`);
  checkSchemaOption(o);
  const tabular = isTabularDataset(o.dataset, { schema: o.schema });
  if (o.saveExamples !== undefined && !tabular) throw new UserError(`--save-examples applies to text and tabular data sets (spam, nsl-kdd, phishing, csv:FILE), not ${o.dataset}: drop it (the report's gallery shows image examples)`);
  if (o.saveExamples !== undefined) checkOutputPaths([{ flag: '--save-examples', path: o.saveExamples, kind: 'file' }, { flag: '--save-examples', path: verdictsPath(o.saveExamples), kind: 'file' }]);
  const modelInfo = checkEvalInputs(o);
  await checkShardInputs(o);
  const threat = parseAnyThreat(o.threat ?? (o.preset === 'tabular' ? 'l2:0.5' : 'linf:0.3'));
  if (!PRESETS.includes(o.preset as (typeof PRESETS)[number])) throw new UserError(`unknown --preset '${o.preset}': choose one of ${PRESETS.join(', ')}`);
  const budgets = o.epsCurve ? parseEpsRange(o.epsCurve) : undefined;
  const norms = o.minimalNorms ? o.minimalNorms.split(',').map((s) => s.trim()) : undefined;
  if (norms?.some((m) => m !== 'l2' && m !== 'linf')) throw new UserError(`--minimal-norms takes l2, linf or both (got '${o.minimalNorms}')`);
  const data = await loadDataset(o.dataset, { labelColumn: o.labelColumn, schema: o.schema });
  checkModelFitsData(modelInfo, o.model, { name: o.dataset, shape: data.test.shape }, 'evaluate');
  const engine = await startEngine(o, log);
  warnIfThreatCoversDomain(threat, data.test.domain, data.test.shape);
  const loaded = await loadModel(o.model, undefined, { onNote: log });
  const { metadata, location } = loaded;
  // The data set knows its feasible set (tabular types, immutables, relations); a model's metadata stores only the box.
  const classifier = isBox(data.test.domain) ? loaded.classifier : { ...loaded.classifier, domain: data.test.domain };
  const test = subset(data.test, o.n);
  if (classifier.inputShape.join(',') !== test.shape.join(',')) {
    throw new UserError(`model ${o.model} takes inputs [${classifier.inputShape}] but ${o.dataset} has [${test.shape}]: evaluate it on the data set it was trained for`);
  }
  // A sharded run keeps its state in Redis (per chunk), not beside the JSON.
  const statePath = o.json && !o.redis ? `${o.json}.state` : undefined;
  if (statePath && existsSync(statePath)) log(`resuming the evaluation saved in ${statePath}`);
  log(`evaluating ${o.model} on the first ${test.n} ${o.dataset} test examples at ${threat}, preset ${o.preset}`);
  const progress = stageProgress();
  let worst: ProtocolResult | undefined;
  const sharded = o.redis
    ? (await import('../distributed/sharded-eval.js')).shardedEnsemble({ redis: o.redis, chunk: o.chunk ?? 250, modelPath: o.model, modelVia: o.modelVia ?? 'redis', dataset: o.dataset, preset: o.preset, backend: runningEngine().backend, log, onProgress: (d, t) => progress.update('sharded', d, t) })
    : undefined;
  const result = await evaluate(classifier, test, {
    ensemble: sharded?.run,
    threat,
    preset: o.preset as (typeof PRESETS)[number],
    seed: o.seed,
    batchSize: o.batchSize,
    statePath,
    epsCurve: budgets,
    minimalNorms: norms as ('l2' | 'linf')[] | undefined,
    checks: o.checks,
    checkN: o.checkN,
    gallery: o.gallery,
    modelDir: location.dir,
    describe: {
      model: { path: o.model, architecture: metadata?.architecture, trained_on: metadata?.dataset },
      dataset: o.dataset,
      engine,
    },
    command: { argv: redactRedis(o.argv ?? evalArgv(o)), cwd: process.cwd() },
    onProgress: progress.update,
    ...(o.saveExamples !== undefined ? { onWorstCase: (w: ProtocolResult) => (worst = w) } : {}),
  });
  progress.stop();
  process.stdout.write(summarise(result));
  if (o.json) {
    writeFileAtomic(o.json, JSON.stringify(result) + '\n');
    log(`results written to ${o.json}`);
    if (statePath) {
      rmSync(statePath, { force: true });
      rmSync(`${statePath}.adv`, { force: true });
    }
  }
  if (o.report) {
    await writeReport(o.report, result);
    log(`report written to ${o.report}`);
  }
  if (o.saveExamples !== undefined && worst) saveWorstCase(o.saveExamples, test as TabularDataset, classifier, worst, result);
  await sharded?.finish();
  return result;
}

/**
 * Writes the worst-case adversarial record of every attacked (clean-correct) record and its
 * verdict, naming the ensemble member that broke it (`attack` absent where none did).
 */
function saveWorstCase(path: string, test: TabularDataset, clf: Parameters<typeof writeTabularAttackExamples>[2], w: ProtocolResult, r: EvalResultV2): void {
  const d = test.encoding.d;
  const records = [];
  for (let i = 0; i < test.n; i++) {
    if (!w.cleanCorrect[i]) continue;
    const by = w.brokenBy[i]!;
    records.push({ index: i, xAdv: w.adv.subarray(i * d, (i + 1) * d), predictedBefore: test.y[i]!, ...(by >= 0 ? { attack: r.attacks[by]!.name } : {}) });
  }
  const verdicts = writeTabularAttackExamples(path, test, clf, records);
  const fooled = verdicts.filter((v) => v.valid && v.predicted_after !== v.label).length;
  log(`${verdicts.length} attacked records written to ${path} (${test.format}), their verdicts to ${verdictsPath(path)}: ${fooled} valid records misclassified, ${verdicts.filter((v) => !v.valid).length} invalid`);
}

/** The `eval` command. */
export function evalCommand(): Command {
  const cmd = new Command('eval')
    .description('evaluate a saved model: clean and worst-case robust accuracy over an attack ensemble, margins, reliability checks')
    .requiredOption('--model <path>', 'TF.js model: a folder with model.json + weights, or the model.json itself')
    .requiredOption('--dataset <name>', 'data set whose test split to use')
    .option('--threat <spec>', 'threat model NORM:EPS or spatial:rot=…,trans=…; text data: words:SHARE (default words:0.1); default: l2:0.5 with --preset tabular, else linf:0.3')
    .addOption(new Option('--preset <name>', 'quick: PGD-20 + APGD-CE; standard: AutoAttack (APGD-CE, APGD-T, FAB-T, Square); thorough: standard + restarts + CW-margin PGD; tabular: CAA (CAPGD, then MOEVA), valid records only; text (text data, the default there): deepwordbug, pwws, hotflip, goodword, genetic-text').choices([...PRESETS, 'text']).default('standard'))
    .addOption(new Option('--n <count>', 'evaluate the first N test examples, in data-set order (text data: the first N spam messages)').argParser(positiveInt).default(1000))
    .option('--json <file>', 'write the results as JSON (the evaluation state is kept in FILE.state until it finishes)')
    .option('--report <file>', 'write a self-contained HTML report')
    .option('--save-examples <file>', 'text data: write every attacked message (original, adversarial, predictions, changed words, queries) as JSON lines; tabular data: every attacked record\'s worst case in the data set\'s own format (NSL-KDD lines, ARFF, CSV), and a verdict per record in FILE.jsonl')
    .option('--eps-curve <range>', 'accuracy-vs-ε curve START:STOP:STEP, e.g. 0:0.4:0.05 (first 500 examples)')
    .option('--minimal-norms <norms>', 'minimal-perturbation norms with DeepFool, FAB (and CW for l2): l2, linf or l2,linf (first 200 examples)')
    .option('--no-checks', 'skip the reliability checks')
    .addOption(new Option('--check-n <count>', 'examples the reliability checks use').argParser(positiveInt).default(200))
    .addOption(new Option('--gallery <count>', 'examples shown as images in the report').argParser(integer).default(10))
    .addOption(new Option('--batch-size <n>', 'examples per batch').argParser(positiveInt).default(256))
    .addOption(new Option('--seed <n>', 'random seed').argParser(integer).default(0));
  for (const opt of [...textDataOptions(), ...engineOptions(), ...shardOptions()]) cmd.addOption(opt);
  return cmd.action(async (o: EvalOptions, self: Command) => {
    await runEval({ ...o, argv: argvAsRun(self) });
  });
}
