import { Command, Option, InvalidArgumentError } from 'commander';
import cliProgress from 'cli-progress';
import { join } from 'node:path';
import { loadDataset } from '../data/index.js';
import { subset } from '../data/batching.js';
import { encodeIdx } from '../data/idx.js';
import { loadModel } from '../model/io.js';
import { parseAnyThreat } from '../threat/parse.js';
import { attackAccess, attackHelp, attackNames, createAttack, defaultThreatFor, type AttackFlags } from '../attacks/registry.js';
import { loadOnnxClassifier } from '../model/onnx.js';
import { accuracyOn } from '../eval/transfer.js';
import type { Classifier } from '../model/classifier.js';
import type { ModelMetadata } from '../model/io.js';
import type { Dataset } from '../data/dataset.js';
import { runAttack, type AttackRunResult } from '../eval/attack-run.js';
import { writeFileAtomic, withNewDir } from '../fsutil.js';
import { encodePng, amplifiedPerturbation } from '../report/png.js';
import { UserError } from '../errors.js';
import { engineOptions, integer, positiveInt, positiveNumber } from './options.js';
import { log, startEngine, versions } from './common.js';

interface AttackCliOptions extends AttackFlags {
  model: string;
  dataset: string;
  attack: string;
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

/** The result file of `advtrain attack` (schema `advtrain/attack@1`). Fractions, not percentages. */
export interface AttackFileResult {
  schema: 'advtrain/attack@1';
  model: { path: string; architecture?: string };
  data: { dataset: string; split: 'test'; n: number };
  attack: { name: string; params: Readonly<Record<string, unknown>>; threat: string; targeted: boolean };
  clean_accuracy: number;
  robust_accuracy: number;
  success_rate: number;
  attacked: number;
  distance: { norm: string } & AttackRunResult['distance'];
  queries: AttackRunResult['queries'];
  time_s: number;
  seed: number;
  engine: { backend: string; threads?: number };
  versions: Record<string, string>;
  created: string;
}

async function saveExamples(dir: string, r: AttackRunResult, shape: number[], classNames: string[]): Promise<void> {
  await withNewDir(dir, async (d) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const all = new Float32Array(r.kept.length * size);
    r.kept.forEach((k, j) => all.set(k.xAdv, j * size));
    writeFileAtomic(join(d, 'adversarial-images.idx'), encodeIdx([r.kept.length, ...shape], 'float32', all));
    writeFileAtomic(join(d, 'labels.idx'), encodeIdx([r.kept.length], 'uint8', r.kept.map((k) => k.label)));
    const index = r.kept.map((k, j) => {
      const files = { clean: `${j}-clean.png`, adversarial: `${j}-adv.png`, perturbation: `${j}-perturbation.png` };
      if (shape.length === 3) {
        writeFileAtomic(join(d, files.clean), encodePng(k.x, shape, { scale: 4 }));
        writeFileAtomic(join(d, files.adversarial), encodePng(k.xAdv, shape, { scale: 4 }));
        writeFileAtomic(join(d, files.perturbation), encodePng(amplifiedPerturbation(k.x, k.xAdv), shape, { scale: 4 }));
      }
      return {
        index: k.index,
        label: classNames[k.label] ?? String(k.label),
        clean: { prediction: classNames[k.predClean] ?? String(k.predClean), confidence: k.confClean },
        adversarial: { prediction: classNames[k.predAdv] ?? String(k.predAdv), confidence: k.confAdv },
        ...(shape.length === 3 ? { files } : {}),
      };
    });
    writeFileAtomic(join(d, 'examples.json'), JSON.stringify(index, null, 2) + '\n');
  });
}

/** Loads the attacked model: a TF.js directory, or an ONNX file read with the data set's shape. */
async function loadTarget(o: AttackCliOptions, test: Dataset): Promise<{ classifier: Classifier; metadata?: ModelMetadata }> {
  if (!o.model.endsWith('.onnx')) return loadModel(o.model);
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
  const given = o.threat !== undefined ? parseAnyThreat(o.threat) : undefined;
  const attack = createAttack(o.attack, { steps: o.steps, restarts: o.restarts, stepSize: o.stepSize, loss: o.loss, queries: o.queries, params: o.params }, given);
  const data = await loadDataset(o.dataset);
  const threat = given ?? parseAnyThreat(defaultThreatFor(o.attack, data.test.shape.reduce((a, b) => a * b, 1)));
  const engine = await startEngine(o, log);
  const test = subset(data.test, o.n);
  const { classifier, metadata } = await loadTarget(o, test);
  const surrogate = o.surrogate ? (await loadModel(o.surrogate)).classifier : undefined;
  const queryOnly = o.model.endsWith('.onnx');
  if (queryOnly && !surrogate && attackAccess(o.attack) === 'gradient') {
    throw new UserError(`${o.model} is query-only (ONNX): use square, hopskipjump, genattack or de, or craft ${o.attack} on a TF.js model with --surrogate DIR`);
  }
  if (classifier.inputShape.join(',') !== test.shape.join(',')) {
    throw new UserError(`model ${o.model} takes inputs [${classifier.inputShape}] but ${o.dataset} has [${test.shape}]: attack it on the data set it was trained for`);
  }
  log(`attack ${attack.name} ${JSON.stringify(attack.params)} at ${threat}${o.targeted ? ' (targeted, random target)' : ''} on ${test.n} ${o.dataset} test examples`);
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar({ stream: process.stderr, format: `${attack.name} [{bar}] {value}/{total} examples | eta {eta_formatted}`, clearOnComplete: true }, cliProgress.Presets.shades_classic)
    : undefined;
  bar?.start(test.n, 0);
  const size = test.shape.reduce((a, b) => a * b, 1);
  const advOut = surrogate ? test.x.slice(0, test.n * size) : undefined;
  const r = await runAttack(surrogate ?? classifier, test, attack, {
    threat,
    batchSize: o.batchSize,
    seed: o.seed,
    targeted: o.targeted,
    keepExamples: o.saveExamples ? o.keep : 0,
    advOut,
    onProgress: (done, total) => (bar ? bar.update(done) : log(`${attack.name}: ${done}/${total} examples`)),
  });
  bar?.stop();
  if (surrogate && advOut) {
    const transferAcc = accuracyOn(classifier, test, advOut);
    const cleanAcc = accuracyOn(classifier, test, test.x);
    process.stdout.write(
      `transfer from ${o.surrogate} (surrogate: clean ${pct(r.clean_accuracy)}, robust ${pct(r.robust_accuracy)}) to ${o.model}: clean ${pct(cleanAcc)}, under transfer ${pct(transferAcc)}\n`,
    );
    r.clean_accuracy = cleanAcc;
    r.robust_accuracy = transferAcc;
  }
  const result: AttackFileResult = {
    schema: 'advtrain/attack@1',
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
    seed: o.seed,
    engine,
    versions: versions(),
    created: new Date().toISOString(),
  };
  process.stdout.write(
    `${attack.name} at ${threat}: clean ${pct(r.clean_accuracy)}, robust ${pct(r.robust_accuracy)}, success ${pct(r.success_rate)} of ${r.attacked} attacked; ` +
      `${threat.measure} distance median ${num(r.distance.median)} max ${num(r.distance.max)}; queries median ${num(r.queries.median)}; ${r.time_s.toFixed(1)} s\n`,
  );
  if (o.json) {
    writeFileAtomic(o.json, JSON.stringify(result, null, 2) + '\n');
    log(`results written to ${o.json}`);
  }
  if (o.saveExamples) {
    await saveExamples(o.saveExamples, r, test.shape, test.classNames);
    log(`${r.kept.length} examples written to ${o.saveExamples}`);
  }
  return result;
}

/** The `attack` command. */
export function attackCommand(): Command {
  const cmd = new Command('attack')
    .description('attack a saved model on the first N test examples')
    .requiredOption('--model <path>', 'model directory (model.json + weights.bin), or an .onnx file (query-only)')
    .requiredOption('--dataset <name>', 'data set whose test split to attack')
    .option('--attack <name>', `attack (${attackNames().join(', ')})`, 'pgd')
    .option('--threat <spec>', 'threat model NORM:EPS (linf:0.3, l2:2, l1:10, l0:20) or spatial:rot=30,trans=3[,scale=0.9-1.1]; default: linf:0.3, or what the attack needs')
    .addOption(new Option('--steps <n>', 'iterations').argParser(positiveInt))
    .addOption(new Option('--restarts <n>', 'random restarts').argParser(positiveInt))
    .addOption(new Option('--step-size <x>', 'step length in the threat norm').argParser(positiveNumber))
    .option('--loss <name>', 'loss to ascend: ce, cw, dlr')
    .addOption(new Option('--queries <n>', 'query budget of black-box attacks').argParser(positiveInt))
    .addOption(new Option('--params <json>', 'any hyperparameter by name, as a JSON object').argParser(parseParams))
    .option('--targeted', 'targeted attack towards a random other class (seeded)')
    .addOption(new Option('--n <count>', 'attack the first N test examples').argParser(positiveInt).default(1000))
    .addOption(new Option('--batch-size <n>', 'examples per batch').argParser(positiveInt).default(256))
    .addOption(new Option('--seed <n>', 'random seed').argParser(integer).default(0))
    .option('--json <file>', 'write the results as JSON')
    .option('--save-examples <dir>', 'write adversarial examples (IDX), PNGs and predictions')
    .addOption(new Option('--keep <n>', 'examples to save with --save-examples').argParser(positiveInt).default(16))
    .option('--surrogate <dir>', 'transfer attack: craft the examples on this TF.js model, then measure --model on them')
    .addOption(new Option('--layout <l>', 'ONNX models: input layout (PyTorch exports are nchw)').choices(['nhwc', 'nchw']).default('nhwc'))
    .addOption(new Option('--output <kind>', 'ONNX models: what the model outputs').choices(['logits', 'probabilities']).default('logits'))
    .addHelpText('after', `\nAttacks:\n${attackHelp()}`);
  for (const opt of engineOptions()) cmd.addOption(opt);
  return cmd.action(async (o: AttackCliOptions) => {
    await runAttackCommand(o);
  });
}
