/**
 * The text CNN (embedding 20000×64, 100 tokens → conv1d 128×5 → global max pool → dense 2; batch
 * 64) on the native engine with its embedding kernels (GatherV2, UnsortedSegmentSum) native or on
 * the wasm JS-loop kernels they replace, side by side in one process: rounds alternate the
 * variants so that all see the same machine load; figures are medians over rounds; the first
 * variant (both kernels on wasm) is 1.00x. Also times the two kernels alone at the model's sizes,
 * native on one thread (their default there) and split over all threads.
 *
 *   node build/bench/native-embedding.js [--rounds 7] [--steps 5] [--threads 2] [--batch 64]
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { selectBackend } from '../src/engine/backend.js';
import { NativeAdamOptimizer, setNativeKernelEnabled } from '../src/engine/native/index.js';
import { buildZooModel } from '../src/model/zoo.js';
import { summarize } from '../src/eval/stats.js';
import { benchSteps, randomLabels } from './step.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    steps: { type: 'string', default: '5' },
    threads: { type: 'string', default: String(availableParallelism()) },
    batch: { type: 'string', default: '64' },
  },
});
const rounds = Number(values.rounds);
const steps = Number(values.steps);
const batch = Number(values.batch);
const threads = Number(values.threads);
const VOCAB = 20000;
const LEN = 100;

const info = await selectBackend('native', { threads });
console.log(`engine: ${info.name} (${info.reason}); tfjs ${tf.version_core}; batch ${batch}, ${rounds} rounds × ${steps} steps`);

const KERNELS = [tf.GatherV2, tf.UnsortedSegmentSum];
const use = (on: string[]) => () => KERNELS.forEach((k) => setNativeKernelEnabled(k, on.includes(k)));

/** Median seconds per call of each variant, rounds alternating over the variants. */
function ab(variants: { name: string; use(): void }[], fn: () => void, n: number): number[] {
  const times: number[][] = variants.map(() => []);
  for (const v of variants) {
    v.use();
    fn();
  }
  for (let r = 0; r < rounds; r++) {
    variants.forEach((v, i) => {
      v.use();
      fn();
      const t = performance.now();
      for (let s = 0; s < n; s++) fn();
      times[i]!.push((performance.now() - t) / 1000 / n);
    });
  }
  return times.map((t) => summarize(t).median!);
}

const model = buildZooModel('text-cnn', { inputShape: [LEN], numClasses: 2, seed: 0, vocabSize: VOCAB });
const x = tf.randomUniform([batch, LEN], 0, VOCAB, 'int32', 1);
const y = randomLabels(batch, 2);
const opt: tf.Optimizer = new NativeAdamOptimizer(1e-3);
const { train, igrad, dispose: disposeSteps } = benchSteps(model, x, y, opt);

const variants = [
  { name: 'wasm gather+segment sum', use: use([]) },
  { name: 'native gather', use: use([tf.GatherV2]) },
  { name: 'native segment sum', use: use([tf.UnsortedSegmentSum]) },
  { name: 'native both', use: use(KERNELS) },
];
for (const [mode, fn] of [['train', train], ['igrad', igrad]] as const) {
  const med = ab(mode === 'train' ? variants : [variants[0]!, variants[3]!], fn, steps);
  med.forEach((m, i) => {
    const v = mode === 'train' ? variants[i]! : [variants[0]!, variants[3]!][i]!;
    console.log(`text-cnn ${mode.padEnd(6)} ${v.name.padEnd(26)} ${String(Math.round(batch / m)).padStart(6)} ex/s  ${(m * 1e3).toFixed(1).padStart(7)} ms/step  ${(med[0]! / m).toFixed(2)}x`);
  });
}

const before = tf.memory().numTensors;
// The kernels alone at the model's sizes: 6400 look-ups of 64 floats; their sum into 20000 rows
// (kernels run synchronously on wasm: no read-back needed).
const table = tf.randomUniform([VOCAB, 64], -1, 1, 'float32', 3);
const idx = tf.reshape(x, [batch * LEN]) as tf.Tensor1D;
const rowsIn = tf.randomUniform([batch * LEN, 64], -1, 1, 'float32', 4);
// "split": the native kernels made to use every thread (they stay on one below 16M floats).
const SPLIT = 'ADVTRAIN_NATIVE_EMBEDDING_PARALLEL_MIN';
const kernelVariants = [
  { name: 'wasm', use: use([]) },
  { name: 'native', use: () => (use(KERNELS)(), delete process.env[SPLIT]) },
  { name: `native split ${threads}`, use: () => (use(KERNELS)(), (process.env[SPLIT] = '1')) },
];
for (const [kname, fn] of [
  ['GatherV2', () => tf.tidy(() => void tf.gather(table, idx))],
  ['UnsortedSegmentSum', () => tf.tidy(() => void tf.unsortedSegmentSum(rowsIn, idx, VOCAB))],
] as const) {
  const med = ab(kernelVariants, fn, 20);
  med.forEach((m, i) => console.log(`${kname.padEnd(18)} ${kernelVariants[i]!.name.padEnd(18)} ${(m * 1e3).toFixed(3).padStart(8)} ms  ${(med[0]! / m).toFixed(2)}x`));
}
delete process.env[SPLIT];
use(KERNELS)();
tf.dispose([table, idx, rowsIn]);
if (tf.memory().numTensors !== before) console.log(`warning: ${tf.memory().numTensors - before} tensors leaked`);
disposeSteps();
tf.dispose([x, y]);
opt.dispose();
model.dispose();
