/**
 * Soak: many training steps (and, with --igrad, an input gradient after each) of a zoo model on the
 * native engine; prints tf.memory() and the process's RSS as it goes, so a leak (tensors, wasm
 * heap, native primitives) shows as a rising column. `--model tabular-mlp` is the zoo's mlp on 120
 * features, 2 classes (run it with --batch 256), as bench/backends.ts has it; mlp models run on the
 * fused dense stack.
 *
 *   node --expose-gc build/bench/native-soak.js [--model madry-cnn] [--igrad] [--steps 5000] [--every 500] [--threads 2]
 *
 * With --expose-gc a full garbage collection runs before each sample, so that V8's lazily collected
 * heap does not read as a leak; the V8 heap in use is printed beside the RSS.
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { selectBackend } from '../src/engine/backend.js';
import { registerNativeKernels, loadNativeAddon } from '../src/engine/native/index.js';
import { makeOptimizer } from '../src/training/optimizers.js';
import { buildZooModel } from '../src/model/zoo.js';
import { benchSteps, randomLabels } from './step.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '5000' },
    every: { type: 'string', default: '500' },
    threads: { type: 'string', default: String(availableParallelism()) },
    batch: { type: 'string', default: '64' },
    model: { type: 'string', default: 'madry-cnn' },
    igrad: { type: 'boolean', default: false },
  },
});
const steps = Number(values.steps);
const every = Number(values.every);
const batch = Number(values.batch);

await selectBackend('wasm');
const r = registerNativeKernels(Number(values.threads));
if (!r.ok) {
  console.log(`native engine unavailable: ${r.reason}`);
  process.exit(0);
}
const tabular = values.model === 'tabular-mlp';
const inputShape = tabular ? [120] : [28, 28, 1];
const numClasses = tabular ? 2 : 10;
const model = buildZooModel(tabular ? 'mlp' : values.model!, { inputShape, numClasses, seed: 0 });
const x = tf.randomUniform([batch, ...inputShape], 0, 1, 'float32', 1);
const y = randomLabels(batch, numClasses);
const opt = makeOptimizer('adam', 1e-3); // the native Adam, as the Trainer gets it
const { train, igrad, dispose: disposeSteps } = benchSteps(model, x, y, opt);
const heapBytes = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer.byteLength;
const addon = loadNativeAddon();

const gc = (globalThis as { gc?: () => void }).gc;
console.log(`step  numTensors  numBytes(MB)  wasmHeap(MB)  rss(MB)  v8heap(MB)  primitives  ex/s${gc ? '' : '   (run with --expose-gc to collect before each sample)'}`);
let t0 = performance.now();
for (let i = 1; i <= steps; i++) {
  train();
  if (values.igrad) igrad();
  if (i % every === 0 || i === 1) {
    gc?.();
    const m = tf.memory();
    const exps = i === 1 ? 0 : (every * batch) / ((performance.now() - t0) / 1000);
    console.log(
      `${String(i).padStart(4)}  ${String(m.numTensors).padStart(10)}  ${(m.numBytes / 2 ** 20).toFixed(1).padStart(12)}  ${(heapBytes() / 2 ** 20).toFixed(0).padStart(12)}  ${(process.memoryUsage().rss / 2 ** 20).toFixed(0).padStart(7)}  ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(1).padStart(10)}  ${String(addon.ok ? addon.addon.cacheSize() : '-').padStart(10)}  ${exps ? Math.round(exps) : '-'}`,
    );
    t0 = performance.now();
  }
}
disposeSteps();
tf.dispose([x, y]);
opt.dispose();
model.dispose();
