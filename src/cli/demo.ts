import { Command, Option } from 'commander';
import { join } from 'node:path';
import { runTrain } from './train.js';
import { runEval } from './eval.js';
import { engineOptions, positiveInt } from './options.js';
import { log } from './common.js';

interface DemoOptions {
  out?: string;
  epochs: number;
  n?: number;
  backend: string;
  threads?: number;
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** The `demo` command: the main job, end to end on MNIST. */
export function demoCommand(): Command {
  const cmd = new Command('demo')
    .description('train mnist-small on MNIST for one epoch, then evaluate it (the end-to-end tour)')
    .option('--out <dir>', 'run directory (default: runs/demo-<time>)')
    .addOption(new Option('--epochs <n>', 'epochs').argParser(positiveInt).default(1))
    .addOption(new Option('--n <count>', 'use only the first N training examples').argParser(positiveInt));
  for (const opt of engineOptions()) cmd.addOption(opt);
  return cmd.action(async (o: DemoOptions) => {
    const out = o.out ?? join('runs', `demo-${stamp()}`);
    log(`advtrain demo: standard training of mnist-small on MNIST, then evaluation → ${out}`);
    await runTrain({
      dataset: 'mnist',
      model: 'mnist-small',
      epochs: o.epochs,
      batchSize: 64,
      lr: 4e-3,
      optimizer: 'adam',
      lrSchedule: 'cyclic:0.4',
      seed: 0,
      out,
      n: o.n,
      valFraction: 0,
      method: 'standard',
      backend: o.backend,
      threads: o.threads,
    });
    const r = await runEval({ model: out, dataset: 'mnist', batchSize: 500, backend: o.backend, threads: o.threads, json: join(out, 'eval.json') });
    process.stdout.write(`demo done: clean accuracy ${(r.clean_accuracy * 100).toFixed(2)}% on ${r.data.n} MNIST test images; model and results in ${out}\n`);
  });
}
