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
  evalN: number;
  backend: string;
  threads?: number;
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** The `demo` command: the main job, end to end on MNIST. */
export function demoCommand(): Command {
  const cmd = new Command('demo')
    .description('adversarially train mnist-small on MNIST with FGSM-RS (ε = 0.3, warmed up over the first epoch), evaluate it against PGD and APGD with reliability checks, and write the HTML report')
    .option('--out <dir>', 'run directory (default: runs/demo-<time>)')
    .addOption(new Option('--epochs <n>', 'training epochs').argParser(positiveInt).default(3))
    .addOption(new Option('--n <count>', 'use only the first N training examples').argParser(positiveInt))
    .addOption(new Option('--eval-n <count>', 'test examples to evaluate').argParser(positiveInt).default(1000));
  for (const opt of engineOptions()) cmd.addOption(opt);
  return cmd.action(async (o: DemoOptions) => {
    const out = o.out ?? join('runs', `demo-${stamp()}`);
    log(`advtrain demo: FGSM-RS adversarial training of mnist-small on MNIST at linf:0.3, then evaluation and report → ${out}`);
    await runTrain({
      dataset: 'mnist',
      model: 'mnist-small',
      method: 'fgsm-rs',
      threat: 'linf:0.3',
      epsWarmup: 1,
      epochs: o.epochs,
      batchSize: 100,
      lr: 5e-3,
      optimizer: 'adam',
      lrSchedule: 'cyclic:0.4',
      seed: 0,
      out,
      n: o.n,
      valFraction: 0,
      backend: o.backend,
      threads: o.threads,
    });
    const r = await runEval({
      model: out,
      dataset: 'mnist',
      threat: 'linf:0.3',
      preset: 'quick',
      n: o.evalN,
      checks: true,
      checkN: 200,
      gallery: 10,
      batchSize: 256,
      seed: 0,
      backend: o.backend,
      threads: o.threads,
      json: join(out, 'eval.json'),
      report: join(out, 'report.html'),
    });
    process.stdout.write(
      `demo done: clean ${(r.clean_accuracy * 100).toFixed(2)}%, robust ${(r.robust_accuracy * 100).toFixed(2)}% (PGD-20 + APGD-CE at linf:0.3) on ${r.data.n} MNIST test images; report: ${join(out, 'report.html')}\n`,
    );
  });
}
