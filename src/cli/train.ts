import { Command, Option } from 'commander';
import { existsSync, readdirSync } from 'node:fs';
import { loadDataset } from '../data/index.js';
import { subset, splitValidation } from '../data/batching.js';
import { buildZooModel, ZOO_NAMES } from '../model/zoo.js';
import { fromLayersModel } from '../model/classifier.js';
import { domainToMeta, saveModel, type ModelMetadata } from '../model/io.js';
import { OPTIMIZER_NAMES, type OptimizerName } from '../training/optimizers.js';
import { parseSchedule } from '../training/schedules.js';
import { train, configSnapshot, type TrainConfig, type EpochMetrics } from '../training/trainer.js';
import { loadCheckpoint, findCheckpoint } from '../training/checkpoint.js';
import { evaluateClean } from '../eval/clean.js';
import { UserError } from '../errors.js';
import { engineOptions, fraction, integer, positiveInt, positiveNumber, subsetOption } from './options.js';
import { defaultProgress, log, startEngine } from './common.js';

/** Options of `advtrain train` (also used by `demo`). */
export interface TrainOptions {
  dataset: string;
  model: string;
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: OptimizerName;
  lrSchedule: string;
  seed: number;
  out: string;
  n?: number;
  valFraction: number;
  resume?: boolean;
  backend: string;
  threads?: number;
}

/** What a finished training run reports. */
export interface TrainOutcome {
  history: EpochMetrics[];
  testAccuracy: number;
  seconds: number;
  outDir: string;
}

/**
 * Trains a zoo model on a data set and saves it to `out` (model.json, weights.bin, metrics.jsonl,
 * checkpoint/). Everything is validated before the output directory is created.
 *
 * @example
 * ```ts
 * await runTrain({ dataset: 'mnist', model: 'mnist-small', epochs: 2, batchSize: 64, lr: 1e-3, optimizer: 'adam',
 *   lrSchedule: 'constant', seed: 0, out: 'runs/m', valFraction: 0, backend: 'auto' });
 * ```
 */
export async function runTrain(o: TrainOptions): Promise<TrainOutcome> {
  const schedule = parseSchedule(o.lrSchedule, o.lr);
  if (!o.resume && existsSync(o.out) && readdirSync(o.out).length > 0) {
    throw new UserError(`output directory ${o.out} is not empty: choose another --out, delete it, or add --resume`);
  }
  if (o.resume && !findCheckpoint(o.out)) throw new UserError(`no checkpoint to resume in ${o.out}: start without --resume`);
  const data = await loadDataset(o.dataset);
  const engine = await startEngine(o, log);
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
  const metadata: ModelMetadata = {
    inputShape: data.train.shape,
    numClasses: data.train.numClasses,
    domain: domainToMeta(data.train.domain),
    output: 'logits',
    classNames: data.train.classNames,
    architecture: o.model,
    dataset: o.dataset,
  };
  const config: TrainConfig = {
    epochs: o.epochs,
    batchSize: o.batchSize,
    optimizer: o.optimizer,
    schedule,
    seed: o.seed,
    outDir: o.out,
    metadata,
    progress: defaultProgress(),
  };
  let model;
  if (o.resume) {
    const ckpt = await loadCheckpoint(o.out);
    const want = JSON.stringify(configSnapshot(config));
    if (JSON.stringify(ckpt.state.config) !== want) {
      throw new UserError(`the checkpoint in ${o.out} was made with other settings (${JSON.stringify(ckpt.state.config)}): resume with the same options`);
    }
    config.resumeFrom = ckpt;
    model = ckpt.model;
    log(`resuming ${o.out} after epoch ${ckpt.state.epoch}`);
  } else {
    model = buildZooModel(o.model, { inputShape: data.train.shape, numClasses: data.train.numClasses, seed: o.seed });
  }
  const clf = fromLayersModel(model, { domain: data.train.domain });
  log(`training ${o.model} on ${o.dataset}: ${trainSet.n} examples, validation on ${valName} (${valSet.n}), ${o.epochs} epochs, batch ${o.batchSize}, ${o.optimizer} lr ${o.lr} (${o.lrSchedule}), seed ${o.seed}, engine ${engine.backend}`);
  const result = await train(clf, trainSet, valSet, config);
  await saveModel(o.out, model, metadata);
  const test = evaluateClean(clf, testSet);
  log(`test accuracy ${(test.accuracy * 100).toFixed(2)}% on ${test.n} examples; trained in ${result.seconds.toFixed(1)} s; model saved to ${o.out}`);
  model.dispose();
  return { history: result.history, testAccuracy: test.accuracy, seconds: result.seconds, outDir: o.out };
}

/** The `train` command. */
export function trainCommand(): Command {
  const cmd = new Command('train')
    .description('train a model from the zoo on a data set (standard training for now)')
    .requiredOption('--dataset <name>', "data set: mnist, fashion-mnist, a .csv file, or idx:IMAGES,LABELS[,TEST_IMAGES,TEST_LABELS]")
    .addOption(new Option('--model <name>', 'architecture').choices(ZOO_NAMES).default('mnist-small'))
    .addOption(new Option('--epochs <n>', 'epochs').argParser(positiveInt).default(2))
    .addOption(new Option('--batch-size <n>', 'batch size').argParser(positiveInt).default(64))
    .addOption(new Option('--lr <rate>', 'peak learning rate').argParser(positiveNumber).default(4e-3))
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(OPTIMIZER_NAMES).default('adam'))
    .option('--lr-schedule <spec>', 'constant | cyclic[:PEAK_FRACTION] (one-cycle: up to --lr at PEAK of the run, then down to 0) | step:E1,E2[:GAMMA]', 'cyclic:0.4')
    .addOption(new Option('--seed <n>', 'random seed').argParser(integer).default(0))
    .option('--out <dir>', 'run directory (model, metrics.jsonl, checkpoint)', 'runs/model')
    .addOption(subsetOption('training'))
    .addOption(new Option('--val-fraction <f>', 'hold out this fraction of the training data for validation (0: validate on the test set)').argParser(fraction).default(0))
    .option('--resume', 'continue the run in --out from its last checkpoint');
  for (const opt of engineOptions()) cmd.addOption(opt);
  return cmd.action(async (o: TrainOptions) => {
    await runTrain(o);
  });
}
