/**
 * In-process A/B of a native-engine switch that the addon reads from the environment at every
 * call (`ADVTRAIN_NATIVE_MM_SERIAL_FLOPS`, `ADVTRAIN_NATIVE_CBF_SERIAL_FLOPS`): the two values
 * alternate round by round in one process, so both see the same machine load; prints each
 * value's median step time and the median of the per-round time ratios A/B (> 1: B is faster).
 *
 *   node build/bench/native-env-ab.js --var ADVTRAIN_NATIVE_MM_SERIAL_FLOPS --a 0 --b 4e6 [--model madry-cnn] [--rounds 15] [--threads 2]
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { selectBackend } from '../src/engine/backend.js';
import { buildZooModel } from '../src/model/zoo.js';
import { makeOptimizer } from '../src/training/optimizers.js';
import { benchSteps } from './step.js';

const { values } = parseArgs({
  options: {
    var: { type: 'string' },
    a: { type: 'string' },
    b: { type: 'string' },
    model: { type: 'string', default: 'madry-cnn' },
    rounds: { type: 'string', default: '15' },
    threads: { type: 'string', default: String(availableParallelism()) },
  },
});
const { var: name, a, b } = values;
if (!name || a === undefined || b === undefined) throw new Error('usage: --var NAME --a VALUE --b VALUE');
await selectBackend('native', { threads: Number(values.threads) });
const model = buildZooModel(values.model!, { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
const x = tf.randomUniform([64, 28, 28, 1], 0, 1, 'float32', 1);
const y = tf.tidy(() => tf.cast(tf.oneHot(tf.randomUniform([64], 0, 10, 'int32', 2) as tf.Tensor1D, 10), 'float32'));
const steps = benchSteps(model, x, y, makeOptimizer('adam', 0));
const median = (v: number[]) => [...v].sort((p, q) => p - q)[v.length >> 1]!;
for (const mode of ['train', 'igrad'] as const) {
  const times: Record<string, number[]> = { [a]: [], [b]: [] };
  const ratios: number[] = [];
  for (let r = 0; r < Number(values.rounds); r++) {
    const t: Record<string, number> = {};
    for (const v of r % 2 ? [b, a] : [a, b]) {
      process.env[name] = v;
      for (let i = 0; i < 2; i++) steps[mode]();
      const t0 = performance.now();
      for (let i = 0; i < 8; i++) steps[mode]();
      t[v] = (performance.now() - t0) / 8;
      times[v]!.push(t[v]!);
    }
    ratios.push(t[a]! / t[b]!);
  }
  console.log(`${values.model} ${mode}: ${name}=${a} ${median(times[a]!).toFixed(2)} ms, =${b} ${median(times[b]!).toFixed(2)} ms; time ratio A/B ${median(ratios).toFixed(3)} (median of ${values.rounds} rounds)`);
}
steps.dispose();
