/**
 * What the fused dense stack brings: an MLP's training step and input gradient with the stack on
 * and off (tfjs-layers' layer-by-layer kernels), alternating within each round in one process so
 * that both see the same machine load; per mode the median times and the median of the per-round
 * speedups (printed after it).
 *
 *   node build/bench/native-fused.js [--models mlp,tabular-mlp] [--rounds 7] [--runs 40] [--threads 2]
 *
 * mlp: the zoo's mlp on 28×28×1, 10 classes, batch 64; tabular-mlp: on 120 features, 2 classes,
 * batch 256 (as bench/backends.ts has them).
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { selectBackend } from '../src/engine/backend.js';
import { DENSE_STACK, setNativeKernelEnabled } from '../src/engine/native/index.js';
import { buildZooModel } from '../src/model/zoo.js';
import { makeOptimizer } from '../src/training/optimizers.js';
import { benchSteps, randomLabels } from './step.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'mlp,tabular-mlp' },
    rounds: { type: 'string', default: '7' },
    runs: { type: 'string', default: '40' },
    threads: { type: 'string', default: String(availableParallelism()) },
  },
});
const info = await selectBackend('native', { threads: Number(values.threads) });
console.log(`engine: ${info.name} (${info.reason})`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
/** Median milliseconds of `runs` timed calls after one warm-up call. */
function time(f: () => void): number {
  f();
  const ts: number[] = [];
  for (let i = 0; i < Number(values.runs); i++) {
    const t = performance.now();
    f();
    ts.push(performance.now() - t);
  }
  return median(ts);
}

for (const name of values.models!.split(',')) {
  const tabular = name === 'tabular-mlp';
  const inputShape = tabular ? [120] : [28, 28, 1];
  const batch = tabular ? 256 : 64;
  const model = buildZooModel('mlp', { inputShape, numClasses: tabular ? 2 : 10, seed: 0 });
  const x = tf.randomUniform([batch, ...inputShape], 0, 1, 'float32', 1);
  const y = randomLabels(batch, tabular ? 2 : 10);
  const opt = makeOptimizer('adam', 0);
  const s = benchSteps(model, x, y, opt);
  const pairs: Record<'train' | 'igrad', [number, number][]> = { train: [], igrad: [] };
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const mode of ['train', 'igrad'] as const) {
      setNativeKernelEnabled(DENSE_STACK, false);
      const off = time(s[mode]);
      setNativeKernelEnabled(DENSE_STACK, true);
      pairs[mode].push([off, time(s[mode])]);
    }
  }
  for (const mode of ['train', 'igrad'] as const) {
    const p = pairs[mode];
    const speedups = p.map(([off, on]) => off / on);
    console.log(
      `${name.padEnd(12)} ${mode.padEnd(6)} layer by layer ${median(p.map((q) => q[0])).toFixed(3)} ms, fused ${median(p.map((q) => q[1])).toFixed(3)} ms (batch ${batch}): ${median(speedups).toFixed(2)}× (${speedups.map((v) => v.toFixed(2)).join(' ')})`,
    );
  }
  s.dispose();
  opt.dispose();
  tf.dispose([x, y]);
  model.dispose();
}
