/**
 * Where an MLP's input-gradient step goes on the native engine, in CPU time: the whole step as
 * bench/step.ts times it (the gradient of the mean cross-entropy, its sum read back), the gradient
 * alone, the forward pass, the sum read back alone, and the step's native calls replayed on their
 * own with the step's arguments (the dense stack forward and backward, the cross-entropy and its
 * gradient; into buffers of this script's own). What the native calls do not account for is tfjs:
 * the tape, tensor bookkeeping and JS glue. Rounds alternate the parts; medians over rounds.
 *
 * With --threads 2 the figures are wall-clock microseconds (CPU time would count both threads).
 *
 *   node build/bench/native-step-split.js [--model mlp|tabular-mlp] [--threads 1] [--rounds 5] [--runs 1000]
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/engine/backend.js';
import { engine, type WasmHost } from '../src/engine/native/kernels/context.js';
import type { NativeAddon } from '../src/engine/native/addon.js';
import { buildZooModel } from '../src/model/zoo.js';
import { fromLayersModel } from '../src/model/classifier.js';
import { softmaxCrossEntropy } from '../src/engine/cross-entropy.js';
import { randomLabels } from './step.js';

const { values } = parseArgs({ options: { model: { type: 'string', default: 'mlp' }, threads: { type: 'string', default: '1' }, rounds: { type: 'string', default: '5' }, runs: { type: 'string', default: '1000' } } });
const threads = Number(values.threads);
const info = await selectBackend('native', { threads });
if (info.name !== 'native') throw new Error(`the native engine is needed: ${info.reason}`);
const tabular = values.model === 'tabular-mlp';
const [inputShape, batch, classes] = tabular ? [[120], 256, 2] : [[28, 28, 1], 64, 10];
const model = buildZooModel('mlp', { inputShape, numClasses: classes, seed: 0 });
const x = tf.randomUniform([batch, ...inputShape], 0, 1, 'float32', 1);
const y = randomLabels(batch, classes);
const clf = fromLayersModel(model, { domain: { lower: 0, upper: 1 } });
const loss = (z: tf.Tensor) => softmaxCrossEntropy(z, y, 'mean');
const g = tf.grad((xi: tf.Tensor) => loss(clf.logits(xi)));

// Record the native calls of one step, then point everything they write at buffers of our own.
type Call = [name: keyof NativeAddon, f: (...a: unknown[]) => unknown, args: unknown[]];
const calls: Call[] = [];
let recording = true;
const addon = engine.addon! as unknown as Record<string, (...a: unknown[]) => unknown>;
const NAMES = ['denseStackForward', 'denseStackBackward', 'softmaxCrossEntropy', 'softmaxCrossEntropyGrad'] as const;
for (const k of NAMES) {
  const f = addon[k]!.bind(engine.addon);
  addon[k] = (...a: unknown[]) => (recording && calls.push([k, f, [...a]]), f(...a));
}
tf.tidy(() => void tf.sum(g(x)).dataSync());
recording = false;
const wasm = (tf.backend() as unknown as WasmHost).wasm;
const buf = (floats: number) => wasm._malloc(4 * floats) >>> 0;
const inDim = inputShape.reduce((p, d) => p * d, 1);
const hidden = batch * model.layers.filter((l) => l.getClassName() === 'Dense').slice(0, -1).reduce((p, l) => p + (l.getConfig().units as number), 0);
const logits = buf(batch * classes + hidden), dLogits = buf(batch * classes), dx = buf(batch * inDim), lossOut = buf(batch), dyOne = buf(1);
new Float32Array(wasm.HEAPU8.buffer, dyOne, 1)[0] = 1;
const acts = logits + 4 * batch * classes;
for (const [k, , a] of calls) {
  if (k === 'denseStackForward') [a[5], a[6]] = [logits, acts];
  if (k === 'softmaxCrossEntropy') [a[1], a[3]] = [logits, lossOut];
  if (k === 'softmaxCrossEntropyGrad') [a[1], a[3], a[4]] = [logits, dyOne, dLogits];
  if (k === 'denseStackBackward') [a[5], a[6], a[7]] = [acts, dLogits, dx];
}
const replay = (name?: string) => () => {
  for (const [k, f, a] of calls) if (!name || k === name) f(wasm.HEAPU8, ...a.slice(1));
};
const sumOf = tf.randomNormal([batch, ...inputShape]);
const parts: Record<string, () => void> = {
  'step (gradient, its sum read back)': () => tf.tidy(() => void tf.sum(g(x)).dataSync()),
  'gradient alone': () => tf.tidy(() => void g(x)),
  forward: () => tf.tidy(() => void loss(clf.logits(x))),
  'sum read back alone': () => tf.tidy(() => void tf.sum(sumOf).dataSync()),
  'native calls, replayed': replay(),
  ...Object.fromEntries(NAMES.map((k) => [`  ${k}`, replay(k)])),
};
const us: Record<string, number[]> = {};
for (let r = 0; r < Number(values.rounds); r++) {
  for (const [k, f] of Object.entries(parts)) {
    for (let i = 0; i < 50; i++) f();
    const n = Number(values.runs);
    const c = process.cpuUsage(), t0 = performance.now();
    for (let i = 0; i < n; i++) f();
    const d = process.cpuUsage(c), wall = performance.now() - t0;
    (us[k] ??= []).push(threads === 1 ? (d.user + d.system) / n : (1000 * wall) / n);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const clock = threads === 1 ? 'CPU' : 'wall';
console.log(`${values.model}, batch ${batch}, ${threads} thread${threads === 1 ? '' : 's'}; native calls per step: ${calls.map((c) => c[0]).join(', ')}`);
for (const [k, v] of Object.entries(us)) console.log(`${k.padEnd(36)} ${median(v).toFixed(1).padStart(7)} µs ${clock}  (rounds: ${v.map((t) => t.toFixed(0)).join(' ')})`);
const step = median(us['step (gradient, its sum read back)']!), nat = median(us['native calls, replayed']!), sum = median(us['sum read back alone']!);
console.log(`split: native ${((100 * nat) / step).toFixed(0)}%, sum read back ${((100 * sum) / step).toFixed(0)}%, tfjs tape/bookkeeping/glue ${((100 * (step - nat - sum)) / step).toFixed(0)}%`);
