import { Command, Option, InvalidArgumentError } from 'commander';
import cliProgress from 'cli-progress';
import { isTabularDataset, isTextDataset, loadDataset } from '../data/index.js';
import { subset } from '../data/batching.js';
import { loadModel } from '../model/io.js';
import { parseAnyThreat } from '../threat/parse.js';
import { attackHelp, attackNames, createAttack, defaultAttackFor, defaultThreatFor, type AttackFlags } from '../attacks/registry.js';
import { boxOnly } from '../attacks/constrained.js';
import { loadOnnxClassifier } from '../model/onnx.js';
import { transferAttack } from '../eval/transfer.js';
import type { Classifier } from '../model/classifier.js';
import type { ModelMetadata } from '../model/io.js';
import type { Dataset } from '../data/dataset.js';
import { isBox } from '../data/domain.js';
import { runAttack, type AttackRunResult } from '../eval/attack-run.js';
import { runAttackResumable } from '../eval/attack-resume.js';
import { modelDigest, type StateSettings } from '../eval/run-state.js';
import { rmSync } from 'node:fs';
import { writeFileAtomic } from '../fsutil.js';
import { writeExamples } from '../eval/examples-writer.js';
import { verdictsPath, writeTabularAttackExamples } from '../eval/tabular-examples-writer.js';
import type { TabularDataset } from '../tabular/tabular-dataset.js';
import { ATTACK_SCHEMA, type AttackFileResult } from '../eval/schema.js';
import { UserError } from '../errors.js';
import { checkSchemaOption, engineOptions, integer, positiveInt, positiveNumber } from './options.js';
import { log, startEngine, warnIfThreatCoversDomain } from './common.js';
import { resultStamp } from '../eval/result-header.js';
import { checkAttackInputs } from './preflight.js';
import { runTextAttackCommand, textDataOptions, type TextDataCliOptions } from './text-commands.js';
import { textAttackHelp, textAttackNames } from '../text/attack/recipes.js';
import { checkShardInputs, shardOptions, type ShardFlags } from './shard-options.js';
import { runningEngine } from '../eval/evaluate.js';

export type { AttackFileResult };

interface AttackCliOptions extends AttackFlags, TextDataCliOptions, Partial<ShardFlags> {
  model: string;
  dataset: string;
  /** Default: `caa` on a tabular data set, else `pgd` ({@link defaultAttackFor}). */
  attack?: string;
  threat?: string;
  targeted?: boolean;
  n: number;
  batchSize: number;
  seed: number;
  json?: string;
  saveExamples?: string;
  keep: number;
  surrogate?: string;
  layout?: 'nhwc' | 'nchw';
  output?: 'logits' | 'probabilities';
  backend: string;
  threads?: number;
  checkpointEvery?: number;
  fresh?: boolean;
}

function parseParams(v: string): Record<string, unknown> {
  try {
    const o = JSON.parse(v) as unknown;
    if (o && typeof o === 'object' && !Array.isArray(o)) return o as Record<string, unknown>;
  } catch {
    /* reported below */
  }
  throw new InvalidArgumentError('must be a JSON object, e.g. \'{"rho": 0.8}\'.');
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const num = (x: number | null) => (x === null ? '-' : x.toPrecision(4));

/** Loads the attacked model: a TF.js directory, or an ONNX file read with the data set's shape. */
async function loadTarget(o: AttackCliOptions, test: Dataset): Promise<{ classifier: Classifier; metadata?: ModelMetadata }> {
  if (!o.model.endsWith('.onnx')) return loadModel(o.model, undefined, { onNote: log });
  const classifier = await loadOnnxClassifier(o.model, { inputShape: test.shape, numClasses: test.numClasses, domain: test.domain, layout: o.layout, output: o.output });
  return { classifier };
}

/**
 * Attacks a saved model on the first N test examples and reports what the attack did.
 *
 * @example
 * ```ts
 * const r = await runAttackCommand({ model: 'runs/m', dataset: 'mnist', attack: 'pgd', threat: 'linf:0.3', n: 1000, batchSize: 256, seed: 0, keep: 16, backend: 'auto' });
 * ```
 */
export async function runAttackCommand(o: AttackCliOptions): Promise<AttackFileResult> {
  // Raw texts are attacked by the text attacks, through the model's own tokenizer.
  if (isTextDataset(o.dataset, { schema: o.schema })) return runTextAttackCommand({ ...o, attack: o.attack ?? 'pgd' });
  checkSchemaOption(o);
  // A table's adversarial records are saved as one file in its own format (plus FILE.jsonl), not as a folder of images.
  const tabular = isTabularDataset(o.dataset, { schema: o.schema });
  const inputs = { ...o, examplesAs: tabular ? ('records' as const) : ('images' as const) };
  // The attack, its threat and its settings first: they need nothing but the command line
  // (without --attack, the data set's kind decides it: a constrained attack on tabular data).
  const given = o.threat !== undefined ? parseAnyThreat(o.threat) : undefined;
  const flags = { steps: o.steps, restarts: o.restarts, stepSize: o.stepSize, loss: o.loss, queries: o.queries, params: o.params };
  let attack = o.attack ? createAttack(o.attack, flags, given) : undefined;
  if (o.attack) checkAttackInputs({ ...inputs, attack: o.attack });
  await checkShardInputs(o);
  const data = await loadDataset(o.dataset, { labelColumn: o.labelColumn, schema: o.schema });
  const name = o.attack ?? defaultAttackFor(data.test.domain);
  if (!attack) {
    attack = createAttack(name, flags, given);
    checkAttackInputs({ ...inputs, attack: name });
  }
  const threat = given ?? parseAnyThreat(defaultThreatFor(name, data.test.shape.reduce((a, b) => a * b, 1)));
  const engine = await startEngine(o, log);
  warnIfThreatCoversDomain(threat, data.test.domain, data.test.shape);
  const test = subset(data.test, o.n);
  // Every attacked record of a table is saved; --keep chooses how many images.
  const keep = tabular ? test.n : o.keep;
  const loaded = await loadTarget(o, test);
  const { metadata } = loaded;
  // The data set knows its feasible set: CSV column types (integers, one-hot groups, immutables)
  // replace the plain box a model's metadata stores.
  // An unconstrained attack (pgd, fgsm as published) on a data set with relations sees only the
  // box; its records are then validated against the full domain (validity_rate).
  const unconstrained = !attack.support.constrained && !!test.domain.relations?.length;
  const onData = (c: Classifier): Classifier => (isBox(test.domain) ? c : { ...c, domain: unconstrained ? boxOnly(test.domain) : test.domain });
  const classifier = onData(loaded.classifier);
  const surrogate = o.surrogate ? onData((await loadModel(o.surrogate)).classifier) : undefined;
  if (classifier.inputShape.join(',') !== test.shape.join(',')) {
    throw new UserError(`model ${o.model} takes inputs [${classifier.inputShape}] but ${o.dataset} has [${test.shape}]: attack it on the data set it was trained for`);
  }
  log(`attack ${attack.name} ${JSON.stringify(attack.params)} at ${threat}${o.targeted ? ' (targeted, random target)' : ''} on ${test.n} ${o.dataset} test examples`);
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar({ stream: process.stderr, format: `${attack.name} [{bar}] {value}/{total} examples | eta {eta_formatted}`, clearOnComplete: true }, cliProgress.Presets.shades_classic)
    : undefined;
  bar?.start(test.n, 0);
  const runOpts = {
    threat,
    batchSize: o.batchSize,
    seed: o.seed,
    targeted: o.targeted,
    keepExamples: o.saveExamples ? keep : 0,
    validate: test.domain,
    onProgress: (done: number, total: number) => (bar ? bar.update(done) : log(`${attack.name}: ${done}/${total} examples`)),
  };
  // With --json (and no --surrogate: transfer runs are not resumable), the run keeps its state in JSON.state.
  const statePath = o.json && !surrogate && !o.redis ? `${o.json}.state` : undefined;
  if (statePath && o.fresh) rmSync(statePath, { force: true });
  const transfer = surrogate ? await transferAttack(classifier, surrogate, test, attack, runOpts) : undefined;
  const sharded = o.redis
    ? await (await import('../distributed/sharded-attack.js')).shardedAttack(classifier, test, attack, { ...runOpts, redis: o.redis, chunk: o.chunk ?? 250, modelPath: o.model, modelVia: o.modelVia ?? 'redis', dataset: o.dataset, attackName: name, flags: { steps: o.steps, restarts: o.restarts, stepSize: o.stepSize, loss: o.loss, queries: o.queries, params: o.params }, targeted: !!o.targeted, keep: runOpts.keepExamples, backend: runningEngine().backend, log, onProgress: runOpts.onProgress })
    : undefined;
  const r: AttackRunResult =
    sharded?.result ??
    transfer ??
    (statePath
      ? await runAttackResumable(classifier, test, attack, {
          ...runOpts,
          keepExamples: keep,
          statePath,
          settings: attackSettings({ ...o, keep }, attack, threat, engine),
          labels: { what: 'attack', startOver: 'add --fresh (or delete it)' },
          saveEveryBatches: o.checkpointEvery,
          onResume: (done) => log(`resuming the attack saved in ${statePath} after ${done} of ${test.n} examples`),
        })
      : await runAttack(classifier, test, attack, runOpts));
  bar?.stop();
  if (transfer) {
    const s = transfer.surrogate;
    process.stdout.write(
      `transfer from ${o.surrogate} to ${o.model}: clean ${pct(r.clean_accuracy)}, under transfer ${pct(r.robust_accuracy)}; ` +
        `crafted on the surrogate for the ${r.attacked} examples the target classifies correctly ` +
        `(surrogate: clean ${pct(s.clean_accuracy)}, fooled on ${pct(s.success_rate)} of them, ${s.already_misclassified} already misclassified before the attack${o.targeted ? '' : ', attacked with their true class\'s logit raised so the attack still pushes them away from it'}); ` +
        `all figures below are the target's\n`,
    );
  }
  const result: AttackFileResult = {
    schema: ATTACK_SCHEMA,
    model: { path: o.model, architecture: metadata?.architecture },
    data: { dataset: o.dataset, split: 'test', n: r.n },
    attack: { name: attack.name, params: attack.params, threat: threat.toString(), targeted: !!o.targeted },
    clean_accuracy: r.clean_accuracy,
    robust_accuracy: r.robust_accuracy,
    success_rate: r.success_rate,
    attacked: r.attacked,
    distance: { norm: threat.measure, ...r.distance },
    queries: r.queries,
    time_s: r.time_s,
    ...(r.validity_rate !== undefined && !isBox(test.domain) ? { validity_rate: r.validity_rate, invalid_successes: r.invalid_successes ?? 0, features_changed: r.features_changed } : {}),
    ...(transfer ? { surrogate: { path: o.surrogate!, ...transfer.surrogate } } : {}),
    ...resultStamp(o.seed, { engine }),
  };
  process.stdout.write(
    `${attack.name} at ${threat}: clean ${pct(r.clean_accuracy)}, robust ${pct(r.robust_accuracy)}, success ${pct(r.success_rate)} of ${r.attacked} attacked; ` +
      (r.validity_rate !== undefined && !isBox(test.domain) ? `valid records ${pct(r.validity_rate)} (${r.invalid_successes ?? 0} invalid ones that fooled the model not counted); ` : '') +
      `${threat.measure} distance median ${num(r.distance.median)} max ${num(r.distance.max)}; queries median ${num(r.queries.median)}; ${r.time_s.toFixed(1)} s\n`,
  );
  // The JSON first: a run killed before the examples are written resumes from its (finished) state and writes both.
  if (o.json) {
    writeFileAtomic(o.json, JSON.stringify(result, null, 2) + '\n');
    log(`results written to ${o.json}`);
  }
  if (o.saveExamples && tabular) {
    const records = r.kept.map((k) => ({ index: k.index, xAdv: k.xAdv, predictedBefore: k.predClean }));
    const verdicts = writeTabularAttackExamples(o.saveExamples, test as TabularDataset, classifier, records);
    const fooled = verdicts.filter((v) => v.valid && v.predicted_after !== v.label).length;
    const drift = r.kept.filter((k, j) => (test.classNames[k.predAdv] ?? String(k.predAdv)) !== verdicts[j]!.predicted_after).length;
    log(`${verdicts.length} attacked records written to ${o.saveExamples} (${(test as TabularDataset).format}), their verdicts to ${verdictsPath(o.saveExamples)}: ${fooled} valid records misclassified, ${verdicts.filter((v) => !v.valid).length} invalid`);
    if (drift) log(`warning: ${drift} records are classified differently once written as text than as the attack left them (values rounded to the file's precision)`);
  } else if (o.saveExamples) {
    await writeExamples(o.saveExamples, r.kept, test.shape, test.classNames);
    log(`${r.kept.length} examples written to ${o.saveExamples}`);
  }
  if (statePath) rmSync(statePath, { force: true });
  await sharded?.finish();
  return result;
}

/** What an attack run's result depends on, keyed by option: a saved state made with other values is refused. */
function attackSettings(o: AttackCliOptions, attack: { name: string; params: Readonly<Record<string, unknown>> }, threat: { toString(): string }, engine: { backend: string; threads?: number }): StateSettings {
  return {
    '--model': modelDigest(o.model),
    '--dataset': o.dataset,
    '--n': o.n,
    '--attack': attack.name,
    '--steps/--restarts/--step-size/--loss/--queries/--params': JSON.stringify(attack.params),
    '--threat': threat.toString(),
    '--targeted': !!o.targeted,
    '--seed': o.seed,
    '--batch-size': o.batchSize,
    '--keep': o.keep,
    '--backend': engine.backend,
    '--threads': engine.threads ?? null,
    ...(o.model.endsWith('.onnx') ? { '--layout': o.layout ?? 'nhwc', '--output': o.output ?? 'logits' } : {}),
  };
}

/** The `attack` command. */
export function attackCommand(): Command {
  const cmd = new Command('attack')
    .description('attack a saved model on the first N test examples')
    .requiredOption('--model <path>', 'model directory (model.json + weights.bin), or an .onnx file (query-only)')
    .requiredOption('--dataset <name>', 'data set whose test split to attack')
    .option('--attack <name>', `attack (${attackNames().join(', ')}; text data: ${textAttackNames().join(', ')}); default: caa on a tabular data set, else pgd`)
    .option('--threat <spec>', 'threat model NORM:EPS (linf:0.3, l2:2, l1:10, l0:20) or spatial:rot=30,trans=3[,scale=0.9-1.1]; text data: words:SHARE (default words:0.1); default: linf:0.3, or what the attack needs (l2:0.5 for the tabular attacks)')
    .addOption(new Option('--steps <n>', 'iterations').argParser(positiveInt))
    .addOption(new Option('--restarts <n>', 'random restarts').argParser(positiveInt))
    .addOption(new Option('--step-size <x>', 'step length in the threat norm').argParser(positiveNumber))
    .option('--loss <name>', 'loss to ascend: ce, cw, dlr')
    .addOption(new Option('--queries <n>', 'query budget of black-box attacks').argParser(positiveInt))
    .addOption(new Option('--params <json>', 'any hyperparameter by name, as a JSON object').argParser(parseParams))
    .option('--targeted', 'targeted attack towards a random other class (seeded)')
    .addOption(new Option('--n <count>', 'attack the first N test examples (text data: the first N spam messages)').argParser(positiveInt).default(1000))
    .addOption(new Option('--batch-size <n>', 'examples per batch').argParser(positiveInt).default(256))
    .addOption(new Option('--seed <n>', 'random seed').argParser(integer).default(0))
    .option('--json <file>', 'write the results as JSON; while it runs, the state is kept in FILE.state and a rerun of the same command resumes it (without --json, or with --surrogate, nothing is saved and a killed run starts over)')
    .addOption(new Option('--checkpoint-every <batches>', 'with --json: save the state every this many batches (default: every 30 s of work; never changes the results)').argParser(positiveInt))
    .option('--fresh', 'with --json: ignore and replace a saved state instead of resuming it')
    .option('--save-examples <path>', 'write adversarial examples: images into a folder DIR (IDX, PNGs, predictions); text data: a FILE.jsonl with every attacked message; tabular data: every attacked record into FILE in the data set\'s own format (NSL-KDD lines, ARFF, CSV) and one verdict per record into FILE.jsonl')
    .addOption(new Option('--keep <n>', 'image examples to save with --save-examples (tabular data: every attacked record is saved)').argParser(positiveInt).default(16))
    .option('--surrogate <dir>', 'transfer attack: craft the examples on this TF.js model, then measure --model on them')
    .addOption(new Option('--layout <l>', 'ONNX models: input layout (PyTorch exports are nchw)').choices(['nhwc', 'nchw']).default('nhwc'))
    .addOption(new Option('--output <kind>', 'ONNX models: what the model outputs').choices(['logits', 'probabilities']).default('logits'))
    .addHelpText('after', `\nAttacks:\n${attackHelp()}\n\nText attacks (--dataset spam, csv:FILE):\n${textAttackHelp()}`);
  for (const opt of [...textDataOptions(), ...engineOptions(), ...shardOptions()]) cmd.addOption(opt);
  return cmd.action(async (o: AttackCliOptions) => {
    await runAttackCommand(o);
  });
}
