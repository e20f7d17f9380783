import { Command, Option } from 'commander';
import { loadDataset } from '../data/index.js';
import { subset } from '../data/batching.js';
import { loadModel } from '../model/io.js';
import { evaluateClean } from '../model/accuracy.js';
import { writeFileAtomic } from '../fsutil.js';
import { UserError } from '../errors.js';
import { engineOptions, positiveInt, subsetOption } from './options.js';
import { log, startEngine, versions } from './common.js';

/** Options of `advtrain eval`. */
export interface EvalOptions {
  model: string;
  dataset: string;
  n?: number;
  json?: string;
  batchSize: number;
  backend: string;
  threads?: number;
}

/** The result file of `advtrain eval` (schema `advtrain/eval@1`). Fractions, not percentages. */
export interface EvalResult {
  schema: 'advtrain/eval@1';
  model: { path: string; architecture?: string; trained_on?: string };
  data: { dataset: string; split: 'test'; n: number };
  clean_accuracy: number;
  clean_loss: number;
  time_s: number;
  engine: { backend: string; threads?: number };
  versions: Record<string, string>;
  created: string;
}

/**
 * Evaluates a saved model on a data set's test split (the first N examples with `n`).
 *
 * @example
 * ```ts
 * const r = await runEval({ model: 'runs/m', dataset: 'mnist', batchSize: 500, backend: 'auto' });
 * console.log(r.clean_accuracy);
 * ```
 */
export async function runEval(o: EvalOptions): Promise<EvalResult> {
  const data = await loadDataset(o.dataset);
  const engine = await startEngine(o, log);
  const { classifier, metadata } = await loadModel(o.model);
  const test = o.n ? subset(data.test, o.n) : data.test;
  const shape = classifier.inputShape.join(',');
  if (shape !== test.shape.join(',')) {
    throw new UserError(`model ${o.model} takes inputs [${shape}] but ${o.dataset} has [${test.shape.join(',')}]: evaluate it on the data set it was trained for`);
  }
  const t0 = performance.now();
  const clean = evaluateClean(classifier, test, { batchSize: o.batchSize });
  const result: EvalResult = {
    schema: 'advtrain/eval@1',
    model: { path: o.model, architecture: metadata?.architecture, trained_on: metadata?.dataset },
    data: { dataset: o.dataset, split: 'test', n: test.n },
    clean_accuracy: clean.accuracy,
    clean_loss: clean.loss,
    time_s: (performance.now() - t0) / 1000,
    engine,
    versions: versions(),
    created: new Date().toISOString(),
  };
  log(`clean accuracy ${(clean.accuracy * 100).toFixed(2)}% on ${test.n} test examples (${result.time_s.toFixed(1)} s)`);
  if (o.json) {
    writeFileAtomic(o.json, JSON.stringify(result, null, 2) + '\n');
    log(`results written to ${o.json}`);
  }
  return result;
}

/** The `eval` command. */
export function evalCommand(): Command {
  const cmd = new Command('eval')
    .description('evaluate a saved model (clean accuracy; attacks come with the evaluation protocol)')
    .requiredOption('--model <dir>', 'model directory (model.json + weights.bin)')
    .requiredOption('--dataset <name>', 'data set whose test split to use')
    .addOption(subsetOption('test'))
    .option('--json <file>', 'write the results as JSON')
    .addOption(new Option('--batch-size <n>', 'evaluation batch size').argParser(positiveInt).default(500));
  for (const opt of engineOptions()) cmd.addOption(opt);
  return cmd.action(async (o: EvalOptions) => {
    await runEval(o);
  });
}
