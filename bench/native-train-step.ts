/**
 * One training step (forward, backward, Adam update; batch 64) on the native engine, with and
 * without its element-wise parts (the native Adam update; native ReLU, ReLU gradient, bias Add, and
 * Identity/Cast without copies), side by side in one process: rounds alternate the variants so
 * that all see the same machine load; figures are medians over rounds; the first variant (all
 * element-wise work on wasm, tf.train.adam: the native engine before these kernels) is 1.00x.
 * `--each` adds one variant per element-wise kernel switched off; `--env NAME=VALUE` (repeatable)
 * one per setting of a switch the addon reads from the environment at each call, such as
 * `ADVTRAIN_NATIVE_MM_SERIAL_FLOPS` or `ADVTRAIN_NATIVE_CBF_SERIAL_FLOPS` (the other variants run
 * without it); `--cbf` is `--env ADVTRAIN_NATIVE_CBF_SERIAL_FLOPS=0`, Conv2DBackpropFilter on all
 * threads at every size (by default small ones run on one); `--profile` prints the kernels'
 * share of one step (tf.profile), heaviest first.
 *
 *   node build/bench/native-train-step.js [--models madry-cnn,mnist-small] [--rounds 7] [--steps 5] [--threads 2] [--each] [--env NAME=VALUE ...] [--cbf] [--profile]
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { selectBackend } from '../src/engine/backend.js';
import { NativeAdamOptimizer, nativeOptimizerStats, setNativeKernelEnabled, RELU_GRAD } from '../src/engine/native/index.js';
import { buildZooModel } from '../src/model/zoo.js';
import { summarize } from '../src/eval/stats.js';
import { benchSteps, randomLabels } from './step.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'madry-cnn,mnist-small' },
    rounds: { type: 'string', default: '7' },
    steps: { type: 'string', default: '5' },
    threads: { type: 'string', default: String(availableParallelism()) },
    batch: { type: 'string', default: '64' },
    profile: { type: 'boolean', default: false },
    each: { type: 'boolean', default: false },
    cbf: { type: 'boolean', default: false },
    env: { type: 'string', multiple: true, default: [] },
  },
});
const rounds = Number(values.rounds);
const steps = Number(values.steps);
const batch = Number(values.batch);

const info = await selectBackend('native', { threads: Number(values.threads) });
console.log(`engine: ${info.name} (${info.reason}); tfjs ${tf.version_core}; batch ${batch}, ${rounds} rounds × ${steps} steps`);

/** A way to run the step: what it switches on before its rounds, and its optimizer. */
interface Variant {
  name: string;
  use(): void;
  optimizer: tf.Optimizer;
}

/** The element-wise kernels, in groups that are switched together. */
const GROUPS: Record<string, string[]> = { 'identity/cast': [tf.Identity, tf.Cast], relu: [tf.Relu], 'relu grad': [RELU_GRAD], add: [tf.Add] };
const ALL = Object.values(GROUPS).flat();
/** Environment switches compared (`--env`, `--cbf`), as [name, value]; each variant runs without any but its own. */
const ENV = [...values.env!, ...(values.cbf ? ['ADVTRAIN_NATIVE_CBF_SERIAL_FLOPS=0'] : [])].map((kv) => {
  const i = kv.indexOf('=');
  if (i <= 0) throw new Error(`--env wants NAME=VALUE (got '${kv}')`);
  return [kv.slice(0, i), kv.slice(i + 1)] as const;
});
/** Switches the element-wise kernels on, except those in `off`, and clears the compared environment switches. */
function elementwise(off: string[]): () => void {
  return () => {
    ALL.forEach((k) => setNativeKernelEnabled(k, !off.includes(k)));
    for (const [k] of ENV) delete process.env[k];
  };
}

for (const name of values.models!.split(',')) {
  const model = buildZooModel(name, { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
  const x = tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 1);
  const y = randomLabels(batch, 10);
  const variants: Variant[] = [
    { name: 'wasm elementwise+adam', use: elementwise(ALL), optimizer: tf.train.adam(1e-3) },
    { name: 'native adam', use: elementwise(ALL), optimizer: new NativeAdamOptimizer(1e-3) },
    { name: 'native adam+elementwise', use: elementwise([]), optimizer: new NativeAdamOptimizer(1e-3) },
  ];
  for (const [k, v] of ENV) {
    const all = elementwise([]);
    variants.push({ name: `  ${k}=${v}`, use: () => (all(), (process.env[k] = v)), optimizer: new NativeAdamOptimizer(1e-3) });
  }
  if (values.each) {
    for (const [g, ks] of Object.entries(GROUPS)) variants.push({ name: `  all but ${g}`, use: elementwise(ks), optimizer: new NativeAdamOptimizer(1e-3) });
  }
  const trains = new Map(variants.map((v) => [v.optimizer, benchSteps(model, x, y, v.optimizer).train]));
  const step = (opt: tf.Optimizer) => trains.get(opt)!();
  for (const v of variants) {
    v.use();
    step(v.optimizer); // makes the optimizer's slots
  }
  const before = tf.memory().numTensors;
  nativeOptimizerStats(true);
  const times: number[][] = variants.map(() => []);
  for (let r = 0; r < rounds; r++) {
    variants.forEach((v, i) => {
      v.use();
      step(v.optimizer);
      const t = performance.now();
      for (let s = 0; s < steps; s++) step(v.optimizer);
      times[i]!.push((performance.now() - t) / 1000 / steps);
    });
  }
  const st = nativeOptimizerStats(true);
  if (tf.memory().numTensors !== before) console.log(`warning: ${tf.memory().numTensors - before} tensors leaked`);
  if (st.fallbacks || st.copies) console.log(`warning: native adam fell back ${st.fallbacks}× (${st.lastFallback}), copied ${st.copies} buffers`);
  const base = summarize(times[0]!).median!;
  variants.forEach((v, i) => {
    const med = summarize(times[i]!).median!;
    console.log(`${name.padEnd(12)} train  ${v.name.padEnd(26)} ${String(Math.round(batch / med)).padStart(6)} ex/s  ${(med * 1e3).toFixed(1).padStart(7)} ms/step  ${(base / med).toFixed(2)}x`);
  });

  if (values.profile) {
    for (const v of variants) {
      v.use();
      const p = await tf.profile(() => step(v.optimizer));
      const byKernel = new Map<string, { ms: number; n: number }>();
      for (const k of p.kernels) {
        const e = byKernel.get(k.name) ?? { ms: 0, n: 0 };
        e.ms += Number(await k.kernelTimeMs);
        e.n++;
        byKernel.set(k.name, e);
      }
      const total = [...byKernel.values()].reduce((s, e) => s + e.ms, 0);
      console.log(`  profile (${v.name}): ${total.toFixed(1)} ms in ${p.kernels.length} kernels`);
      for (const [k, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 14)) {
        console.log(`    ${k.padEnd(28)} ${e.ms.toFixed(2).padStart(8)} ms  ${String(e.n).padStart(4)} calls`);
      }
    }
  }
  elementwise([])();
  for (const v of variants) v.optimizer.dispose();
  tf.dispose([x, y]);
  model.dispose();
}
