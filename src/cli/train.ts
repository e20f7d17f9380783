import { Command, InvalidArgumentError, Option } from 'commander';
import { isTextDataset, loadDataset } from '../data/index.js';
import { subset, splitValidation } from '../data/batching.js';
import { balanceClasses } from '../data/balance.js';
import { buildZooModel, TOKEN_ZOO_NAMES, ZOO_INITS, ZOO_NAMES, type ZooInit, type ZooName } from '../model/zoo.js';
import { fromLayersModel, type Classifier } from '../model/classifier.js';
import { domainToMeta, loadModel, saveModel, type ModelMetadata } from '../model/io.js';
import { parseThreat } from '../threat/threat-model.js';
import { requireThreat } from '../attacks/support.js';
import { PGD_SUPPORT } from '../attacks/pgd.js';
import { FGSM_SUPPORT } from '../attacks/fgsm.js';
import { OPTIMIZER_NAMES, type OptimizerName } from '../training/optimizers.js';
import { parseSchedule } from '../training/schedules.js';
import { recipeFor, recipesHelp } from '../training/recipes.js';
import { train, configSnapshot, DEFAULT_CHECKPOINT_SECONDS, type TrainConfig, type TrainResult } from '../training/trainer.js';
import { loadCheckpoint, findCheckpoint, type CheckpointChoice } from '../training/checkpoint.js';
import { makeStrategy, METHODS, SINGLE_STEP_METHODS, TEXT_ONLY_METHODS, type Method } from '../training/strategies/index.js';
import { DEFAULT_GOOD_WORDS, DEFAULT_SALIENT, textMethodThreat } from './text-methods.js';
import { evaluateClean } from '../model/accuracy.js';
import { UserError } from '../errors.js';
import { deriveSeed } from '../data/rng.js';
import { engineOptions, fraction, integer, positiveInt, positiveNumber, subsetOption } from './options.js';
import { defaultProgress, log, startEngine, warnIfThreatCoversDomain } from './common.js';
import { checkTrainInputs } from './preflight.js';
import { checkNoTextOptions, checkTextTrainInputs, prepareTextTraining, textTrainOptions, type TextTrainOptions } from './text-train.js';
import { saveTextPreprocessing } from '../text/text-model-io.js';
import { modelFilesFor } from '../tabular/tabular-dataset.js';

/** Options of `advtrain train` (also used by `demo`). */
export interface TrainOptions extends TextTrainOptions {
  dataset: string;
  model: string;
  /** Initial weights of the zoo model (default 'glorot'). */
  init?: ZooInit;
  epochs: number;
  /** Default: the method's recipe ({@link recipeFor}). */
  batchSize?: number;
  /** Default: the method's recipe. */
  lr?: number;
  optimizer: OptimizerName;
  /** Default: the method's recipe. */
  lrSchedule?: string;
  seed: number;
  out: string;
  n?: number;
  valFraction: number;
  /** Continue the run in `out`: true or 'latest' from its last checkpoint, 'previous' from the one before. */
  resume?: boolean | string;
  /** In-epoch checkpoints every this many batches (0: epoch ends only; default: every few minutes). */
  checkpointEvery?: number;
  backend: string;
  threads?: number;
  method: string;
  threat?: string;
  /** Epochs of ε warm-up; default: the method's recipe (a share of the epochs). */
  epsWarmup?: number;
  attack?: string;
  attackSteps?: number;
  stepSize?: number;
  advRatio?: number;
  alpha?: number;
  replays?: number;
  beta?: number;
  staticModels?: string;
  /** embedding-pgd: perturb only this share of each text's most salient tokens. */
  salient?: number;
  /** a2t / embedding-pgd: good words inserted per augmented text (0: the published methods). */
  goodWords?: number;
  /** 'auto': on for single-step methods; 'on'; 'off'. */
  coGuard?: string;
  /** PGD steps of the robust validation (0: off). */
  robustVal?: number;
  /** Oversample the training split's smaller classes to the size of the largest. */
  balance?: boolean;
  /** `--dataset csv:FILE`: the label column and the tabular schema. */
  labelColumn?: string;
  schema?: string;
}

/** What a finished training run reports. */
export interface TrainOutcome extends TrainResult {
  testAccuracy: number;
  outDir: string;
}

/**
 * Trains a zoo model on a data set with any method and saves it to `out` (model.json,
 * weights.bin, metrics.jsonl, checkpoint/, best/). Everything is validated before the output
 * directory is created.
 *
 * @example
 * ```ts
 * await runTrain({ dataset: 'mnist', model: 'mnist-small', epochs: 10, batchSize: 100, lr: 5e-3, optimizer: 'adam',
 *   lrSchedule: 'cyclic:0.4', seed: 0, out: 'runs/fgsm-rs', valFraction: 0, backend: 'auto', method: 'fgsm-rs', threat: 'linf:0.3' });
 * ```
 */
export async function runTrain(opts: TrainOptions): Promise<TrainOutcome> {
  if (!METHODS.includes(opts.method as Method)) throw new UserError(`unknown training method '${opts.method}': choose one of ${METHODS.join(', ')}`);
  const recipe = recipeFor(opts.method);
  const o = {
    ...opts,
    batchSize: opts.batchSize ?? recipe.batchSize,
    lr: opts.lr ?? recipe.lr,
    lrSchedule: opts.lrSchedule ?? recipe.lrSchedule,
    // A text method's default threat warms up like a given one.
    epsWarmup: opts.epsWarmup ?? ((opts.threat || TEXT_ONLY_METHODS.includes(opts.method as Method)) && recipe.epsWarmupShare > 0 ? recipe.epsWarmupShare * opts.epochs : undefined),
    attackSteps: opts.attackSteps ?? recipe.attackSteps,
  };
  checkTrainInputs(o);
  // csv:FILE names a table (with --schema) or texts (with --text-column, or a token model).
  const csvTexts = !o.dataset.startsWith('csv:') || o.textColumn !== undefined || TOKEN_ZOO_NAMES.includes(o.model as ZooName);
  const isText = isTextDataset(o.dataset, { schema: o.schema }) && csvTexts;
  if (isText) checkTextTrainInputs(o);
  else checkNoTextOptions(o);
  const schedule = parseSchedule(o.lrSchedule, o.lr);
  const textMethod = TEXT_ONLY_METHODS.includes(o.method as Method) ? textMethodThreat({ ...o, isText }) : undefined;
  if (o.salient !== undefined && o.method !== 'embedding-pgd') throw new UserError(`--salient applies to --method embedding-pgd only: drop it`);
  if (o.goodWords !== undefined && !TEXT_ONLY_METHODS.includes(o.method as Method)) throw new UserError(`--good-words applies to --method a2t and embedding-pgd only: drop it`);
  const adversarial = o.method !== 'standard' && !textMethod;
  if (adversarial && !o.threat) throw new UserError(`--method ${o.method} needs a threat model, e.g. --threat linf:0.3`);
  const threat = textMethod ? textMethod.threat : o.threat ? parseThreat(o.threat) : undefined;
  // Every adversarial image method crafts its examples with FGSM/PGD steps.
  if (adversarial && threat) requireThreat(o.attack ?? 'pgd', o.attack === 'fgsm' ? FGSM_SUPPORT : PGD_SUPPORT, threat);
  const which = resumeChoice(o.resume);
  if (which && !findCheckpoint(o.out, which)) {
    throw new UserError(which === 'previous' ? `no previous checkpoint in ${o.out}: resume with --resume, or start over by deleting ${o.out}` : `no checkpoint to resume in ${o.out}: start without --resume`);
  }
  if ((o.robustVal ?? 0) > 0 && !threat) throw new UserError('--robust-val needs --threat');
  const staticDirs = o.staticModels ? o.staticModels.split(',').filter(Boolean) : [];
  const text = isText ? await prepareTextTraining(o) : undefined;
  const data = text ? text.data : await loadDataset(o.dataset, { labelColumn: o.labelColumn, schema: o.schema });
  const engine = await startEngine(o, log);
  if (threat && !textMethod) warnIfThreatCoversDomain(threat, data.train.domain, data.train.shape);
  const statics: Classifier[] = [];
  for (const dir of staticDirs) statics.push((await loadModel(dir)).classifier);
  const strategy = makeStrategy(o.method, {
    eps: threat?.eps ?? 1,
    attack: o.attack,
    attackSteps: o.attackSteps,
    stepSize: o.stepSize,
    advRatio: o.advRatio,
    alpha: o.alpha,
    replays: o.replays,
    beta: o.beta,
    staticModels: statics,
    text: text?.preprocessing,
    maxShare: textMethod?.maxShare,
    salient: o.method === 'embedding-pgd' ? salientShare(o.salient ?? DEFAULT_SALIENT) : undefined,
    goodWords: textMethod ? (o.goodWords ?? DEFAULT_GOOD_WORDS) : undefined,
  });
  let trainSet = o.n ? subset(data.train, o.n) : data.train;
  const testSet = o.n ? subset(data.test, Math.min(o.n, data.test.n)) : data.test;
  let valSet = testSet;
  let valName = 'test';
  if (o.valFraction > 0) {
    const split = splitValidation(trainSet, o.valFraction, o.seed);
    trainSet = split.train;
    valSet = split.val;
    valName = 'held-out validation';
  }
  if (o.balance) trainSet = balanceClasses(trainSet, deriveSeed(o.seed, 'balance'));
  const metadata: ModelMetadata = {
    inputShape: data.train.shape,
    numClasses: data.train.numClasses,
    domain: domainToMeta(data.train.domain),
    output: 'logits',
    classNames: data.train.classNames,
    architecture: o.model,
    dataset: o.dataset,
    files: modelFilesFor(data.train),
  };
  const coGuard = !textMethod && (o.coGuard === 'on' || ((o.coGuard ?? 'auto') === 'auto' && SINGLE_STEP_METHODS.includes(o.method as Method)));
  const config: TrainConfig = {
    epochs: o.epochs,
    batchSize: o.batchSize,
    optimizer: o.optimizer,
    schedule,
    seed: o.seed,
    strategy,
    threat,
    epsWarmup: o.epsWarmup,
    coGuard: coGuard && threat ? { steps: 10, batch: 256, drop: 0.2 } : undefined,
    robustValidation: (o.robustVal ?? 0) > 0 ? { steps: o.robustVal!, n: 1000 } : undefined,
    outDir: o.out,
    checkpointEvery: o.checkpointEvery,
    metadata,
    progress: defaultProgress(),
    log,
  };
  let model;
  if (which) {
    const ckpt = await loadCheckpoint(o.out, which);
    const want = JSON.stringify(configSnapshot(config));
    if (JSON.stringify(ckpt.state.config) !== want) {
      throw new UserError(`the checkpoint in ${o.out} was made with other settings (${JSON.stringify(ckpt.state.config)}): resume with the same options`);
    }
    config.resumeFrom = ckpt;
    model = ckpt.model;
    const at = ckpt.state.batch ? `at batch ${ckpt.state.batch} of epoch ${ckpt.state.epoch + 1}` : `after epoch ${ckpt.state.epoch}`;
    log(`resuming ${o.out} ${at} (from ${ckpt.dir})`);
  } else {
    model = buildZooModel(o.model, { inputShape: data.train.shape, numClasses: data.train.numClasses, seed: o.seed, init: o.init, vocabSize: text?.preprocessing.vocabulary.size });
  }
  const clf = fromLayersModel(model, { domain: data.train.domain });
  log(
    `training ${o.model} on ${o.dataset} (${o.method}${threat ? ` at ${threat}` : ''}${strategy.params ? ` ${JSON.stringify(strategy.params)}` : ''}): ` +
      `${trainSet.n} examples, validation on ${valName} (${valSet.n}), ${o.epochs} epochs, batch ${o.batchSize}, ${o.optimizer} lr ${o.lr} (${o.lrSchedule}), ` +
      `seed ${o.seed}, engine ${engine.backend}${coGuard ? ', catastrophic-overfitting guard on' : ''}`,
  );
  const result = await train(clf, trainSet, valSet, config);
  await saveModel(o.out, model, metadata);
  if (text) saveTextPreprocessing(o.out, text.preprocessing);
  const test = evaluateClean(clf, testSet);
  log(`test accuracy ${(test.accuracy * 100).toFixed(2)}% on ${test.n} examples; trained in ${result.seconds.toFixed(1)} s; model saved to ${o.out}`);
  if (result.best) log(`best robust validation accuracy ${(result.best.robust_val_accuracy * 100).toFixed(2)}% at epoch ${result.best.epoch} (model in ${o.out}/best)`);
  if (result.stopped) log(`stopped early after epoch ${result.history.length} of ${o.epochs} (the reason is above)`);
  model.dispose();
  for (const s of statics) (s as { model?: { dispose(): void } }).model?.dispose();
  return { ...result, testAccuracy: test.accuracy, outDir: o.out };
}

/** --salient 1 perturbs every token (the strategy's undefined). */
function salientShare(s: number): number | undefined {
  return s >= 1 ? undefined : s;
}

function share(value: string): number {
  const n = Number(value);
  if (!(n > 0 && n <= 1)) throw new InvalidArgumentError('must be a number in (0, 1].');
  return n;
}

function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (!(n >= 0) || !Number.isFinite(n)) throw new InvalidArgumentError('must be a number ≥ 0.');
  return n;
}

function resumeChoice(r: boolean | string | undefined): CheckpointChoice | undefined {
  if (r === undefined || r === false) return undefined;
  if (r === true || r === 'latest') return 'latest';
  if (r === 'previous') return 'previous';
  throw new UserError(`--resume takes no value, 'latest' or 'previous' (got '${r}')`);
}

/** The `train` command. */
export function trainCommand(): Command {
  const cmd = new Command('train')
    .description('train a zoo model, with standard or adversarial training')
    .requiredOption('--dataset <name>', 'data set: mnist, fashion-mnist, nsl-kdd, nsl-kdd-5, nsl-kdd-21, phishing, a .csv file, csv:FILE with --schema (a table), idx:IMAGES,LABELS[,TEST_IMAGES,TEST_LABELS], or texts: spam, spam-collection, csv:FILE (with --text-column)')
    .option('--schema <file>', 'csv:FILE data: the tabular schema (feature types, bounds, relations; see schemas/nsl-kdd.json)')
    .addOption(new Option('--model <name>', 'architecture').choices(ZOO_NAMES).default('mnist-small'))
    .addOption(new Option('--init <kind>', "initial weights: glorot (Keras's default) or torch (PyTorch's, as in the published PyTorch recipes)").choices(ZOO_INITS).default('glorot'))
    .addOption(new Option('--method <name>', 'training method').choices(METHODS).default('standard'))
    .option('--threat <spec>', 'threat model for adversarial methods, e.g. linf:0.3; a2t: words:SHARE (default words:0.1); embedding-pgd: l2:EPS or linf:EPS per token embedding (default l2:0.5, warmed up over a quarter of the epochs)')
    .addOption(new Option('--epochs <n>', 'epochs').argParser(positiveInt).default(2))
    .addOption(new Option('--batch-size <n>', 'batch size (default: per method, below)').argParser(positiveInt))
    .addOption(new Option('--lr <rate>', 'peak learning rate (default: per method, below)').argParser(positiveNumber))
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(OPTIMIZER_NAMES).default('adam'))
    .option('--lr-schedule <spec>', 'constant | cyclic[:PEAK_FRACTION] (one-cycle: up to --lr at PEAK of the run, then down to 0) | step:E1,E2[:GAMMA] (default: per method, below)')
    .addOption(new Option('--eps-warmup <epochs>', 'grow ε linearly from 0 over this many epochs; 0: none (default: per method, below)').argParser(nonNegativeNumber))
    .addOption(new Option('--attack <name>', 'mixed/ensemble: how the adversarial share is made').choices(['fgsm', 'pgd']))
    .addOption(new Option('--attack-steps <n>', 'PGD steps of pgd-at, trades, mart (default 10); a2t: gradient rounds of its synonym substitution, embedding-pgd: ascent steps (default 3)').argParser(positiveInt))
    .addOption(new Option('--step-size <x>', 'step size of the training attack (default 2.5·ε/steps; fgsm-rs: α)').argParser(positiveNumber))
    .addOption(new Option('--adv-ratio <r>', 'mixed/ensemble: share of adversarial examples per batch (default 0.5); a2t: share of each batch also trained on as adversarial texts; embedding-pgd: share of each batch appended with good words (default 0.2)').argParser(Number))
    .addOption(new Option('--good-words <n>', `a2t, embedding-pgd: also train on texts with up to n good words (the words the model alone takes most for the other class, probed each epoch) inserted at their front, within the 10% word budget (a2t: its --threat words:SHARE); 0: the published methods, no insertion (default ${DEFAULT_GOOD_WORDS})`).argParser(integer))
    .addOption(new Option('--salient <share>', `embedding-pgd: perturb only this share of each text's tokens, the most salient; 1: every token, as FreeLB (default ${DEFAULT_SALIENT})`).argParser(share))
    .addOption(new Option('--alpha <k>', 'fgsm-rs: α as a multiple of ε (default 1.25)').argParser(positiveNumber))
    .addOption(new Option('--replays <m>', 'free: replays per minibatch (default 8)').argParser(positiveInt))
    .addOption(new Option('--beta <b>', 'trades β / mart λ (default 6)').argParser(Number))
    .option('--static-models <dirs>', 'ensemble: comma-separated model directories to craft examples on')
    .addOption(new Option('--co-guard <when>', 'catastrophic-overfitting guard').choices(['auto', 'on', 'off']).default('auto'))
    .addOption(new Option('--robust-val <steps>', 'robust early stopping: PGD-steps accuracy on the validation set each epoch, best model kept in OUT/best').argParser(integer))
    .addOption(new Option('--seed <n>', 'random seed').argParser(integer).default(0))
    .option('--out <dir>', 'run directory (model, metrics.jsonl, checkpoint)', 'runs/model')
    .option('--balance', "oversample the training split's smaller classes to the size of the largest (skewed data such as spam-collection)")
    .addOption(subsetOption('training'))
    .addOption(new Option('--val-fraction <f>', 'hold out this fraction of the training data for validation (0: validate on the test set)').argParser(fraction).default(0))
    .option('--resume [which]', 'continue the run in --out from its last checkpoint (--resume previous: from the one before, if the last is corrupt)')
    .addOption(
      new Option('--checkpoint-every <batches>', `also checkpoint within an epoch every this many batches (0: only at epoch ends; default: every ${DEFAULT_CHECKPOINT_SECONDS / 60} minutes of training)`).argParser(integer),
    );
  for (const opt of [...textTrainOptions(), ...engineOptions()]) cmd.addOption(opt);
  cmd.addHelpText('after', recipesHelp());
  return cmd.action(async (o: TrainOptions) => {
    await runTrain(o);
  });
}
