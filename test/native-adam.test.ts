/**
 * The native engine's optimizers (Adam above all, and SGD, momentum) against tfjs's own on the
 * cpu backend (the reference), checkpoints moving between the two, buffers shared between tensors
 * left intact, and no tensor leaks. Skipped as a whole when the addon is not built.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  loadNativeAddon,
  registerNativeKernels,
  unregisterNativeKernels,
  NativeAdamOptimizer,
  NativeSGDOptimizer,
  NativeMomentumOptimizer,
  nativeOptimizerStats,
} from '../src/engine/native/index.js';
import { makeOptimizer, setLearningRate } from '../src/training/optimizers.js';
import { saveCheckpoint, loadCheckpoint } from '../src/training/checkpoint.js';
import type { ModelMetadata } from '../src/model/io.js';
import { relErr, rand } from './helpers.js';

const loaded = loadNativeAddon();
// CI sets ADVTRAIN_REQUIRE_NATIVE=1 so that a missing addon fails instead of skipping.
const required = process.env.ADVTRAIN_REQUIRE_NATIVE === '1';
const skip = loaded.ok || required ? false : `native engine unavailable: ${loaded.reason}`;

// Sizes 1, odd, non-multiples of 16 and 8, and big ones that the addon splits over threads.
const SHAPES = [[1], [7], [3, 5], [17], [4, 4, 3], [1000], [70001], [129, 257]];
// Gradient scales: from where epsilon dominates the denominator to large.
const SCALES = [1, 1e-7, 3, 1e-3, 0.5, 1e-6, 2, 0.1];
const STEPS = 6;

let run = 0;
/** Variables' values and the optimizer's weights after STEPS steps with varying gradients and learning rates. */
async function optimizerRun(backend: 'cpu' | 'wasm', make: () => tf.Optimizer): Promise<{ values: Float32Array[]; weights: { name: string; values: Float32Array }[] }> {
  await tf.setBackend(backend);
  run++;
  const vars = SHAPES.map((s, j) => tf.variable(tf.tensor(rand(tf.util.sizeFromShape(s), 100 + j), s, 'float32'), true, `adamtest_${run}_${j}`));
  const opt = make();
  let count = -1;
  for (let step = 0; step < STEPS; step++) {
    setLearningRate(opt, 0.01 / (1 + step));
    tf.tidy(() => {
      const grads: tf.NamedTensorMap = {};
      vars.forEach((v, j) => (grads[v.name] = tf.tensor(rand(v.size, 1000 * step + j, -SCALES[j]!, SCALES[j]!), v.shape, 'float32')));
      opt.applyGradients(grads);
    });
    // The first step makes the moments; after it, a step makes no tensor that outlives it.
    if (step > 0) assert.equal(tf.memory().numTensors, count, `${backend}: step ${step} leaked tensors`);
    count = tf.memory().numTensors;
  }
  const values = vars.map((v) => v.dataSync() as Float32Array);
  const ws = await opt.getWeights();
  const weights = ws.map((w) => ({ name: w.name.replace(/^adamtest_\d+_/, ''), values: Float32Array.from(w.tensor.dataSync()) }));
  tf.dispose(ws[0]!.tensor); // the iteration count is a fresh scalar; the rest are the optimizer's own
  opt.dispose();
  tf.dispose(vars);
  return { values, weights };
}

const meta: ModelMetadata = { inputShape: [6], numClasses: 3, domain: { lower: 0, upper: 1 }, output: 'logits' };

function smallModel(): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 9, inputShape: [6], activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
      tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
}

/** `n` training steps of `model` with `opt` on fixed data. */
function trainSteps(model: tfl.LayersModel, opt: tf.Optimizer, n: number): void {
  for (let i = 0; i < n; i++) {
    tf.tidy(() => {
      const x = tf.tensor(rand(8 * 6, 7 + i), [8, 6]);
      const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 1, 0], 'int32'), 3);
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.apply(x) as tf.Tensor) as tf.Scalar, vars);
      opt.applyGradients(grads);
    });
  }
}

function assertSameWeights(a: tfl.LayersModel, b: tfl.LayersModel, label: string): void {
  const wa = a.getWeights();
  const wb = b.getWeights();
  assert.equal(wa.length, wb.length);
  for (let i = 0; i < wa.length; i++) {
    const e = relErr(wa[i]!.dataSync(), wb[i]!.dataSync());
    assert.ok(e <= 1e-5, `${label}: weight ${i} differs by ${e.toExponential(2)} (relative)`);
  }
}

describe('native Adam', { skip }, () => {
  before(async () => {
    assert.ok(loaded.ok, loaded.ok ? '' : `ADVTRAIN_REQUIRE_NATIVE=1 but ${loaded.reason}`);
    await tf.setBackend('wasm');
    await tf.ready();
    const r = registerNativeKernels(2);
    assert.ok(r.ok, r.ok ? '' : r.reason);
  });
  after(async () => {
    unregisterNativeKernels();
    await tf.setBackend('cpu');
  });

  test('equals tf.train.adam on the cpu backend (values, moments, iterations)', async () => {
    const ref = await optimizerRun('cpu', () => tf.train.adam(0.01));
    nativeOptimizerStats(true);
    const got = await optimizerRun('wasm', () => new NativeAdamOptimizer(0.01));
    const st = nativeOptimizerStats(true);
    assert.equal(st.steps, STEPS, `native steps ran: ${JSON.stringify(st)}`);
    assert.equal(st.fallbacks, 0);
    for (let j = 0; j < SHAPES.length; j++) {
      const e = relErr(got.values[j]!, ref.values[j]!);
      assert.ok(e <= 1e-5, `variable ${SHAPES[j]} (gradient scale ${SCALES[j]}) differs from tf.train.adam by ${e.toExponential(2)} (relative)`);
    }
    assert.deepEqual(got.weights.map((w) => w.name), ref.weights.map((w) => w.name));
    assert.deepEqual(got.weights[0]!.values, ref.weights[0]!.values, 'iterations');
    for (let k = 1; k < ref.weights.length; k++) {
      const e = relErr(got.weights[k]!.values, ref.weights[k]!.values);
      assert.ok(e <= 1e-5, `${ref.weights[k]!.name} differs by ${e.toExponential(2)} (relative)`);
    }
  });

  for (const [label, ref, nat] of [
    ['SGD', () => tf.train.sgd(0.01), () => new NativeSGDOptimizer(0.01)],
    ['momentum', () => tf.train.momentum(0.01, 0.9), () => new NativeMomentumOptimizer(0.01, 0.9)],
    ['Nesterov momentum', () => tf.train.momentum(0.01, 0.8, true), () => new NativeMomentumOptimizer(0.01, 0.8, true)],
  ] as [string, () => tf.Optimizer, () => tf.Optimizer][]) {
    test(`${label} equals tfjs's on the cpu backend (values, accumulations)`, async () => {
      const want = await optimizerRun('cpu', ref);
      nativeOptimizerStats(true);
      const got = await optimizerRun('wasm', nat);
      const st = nativeOptimizerStats(true);
      assert.equal(st.steps, STEPS, JSON.stringify(st));
      for (let j = 0; j < SHAPES.length; j++) {
        const e = relErr(got.values[j]!, want.values[j]!);
        assert.ok(e <= 1e-5, `variable ${SHAPES[j]} differs by ${e.toExponential(2)} (relative)`);
      }
      assert.deepEqual(got.weights.map((w) => w.name), want.weights.map((w) => w.name));
      for (let k = 0; k < want.weights.length; k++) assert.ok(relErr(got.weights[k]!.values, want.weights[k]!.values) <= 1e-5, want.weights[k]!.name);
    });
  }

  test('makeOptimizer gives the native optimizers on the native engine and tfjs\'s elsewhere, under the same class names', async () => {
    await tf.setBackend('wasm');
    const nat = makeOptimizer('adam', 1e-3);
    // (instanceof is duck-typed for tfjs optimizers)
    assert.equal(nat.constructor, NativeAdamOptimizer);
    assert.equal(nat.getClassName(), 'Adam');
    nat.dispose();
    for (const [n, cls, className] of [['sgd', NativeSGDOptimizer, 'SGD'], ['momentum', NativeMomentumOptimizer, 'Momentum']] as const) {
      const o = makeOptimizer(n, 1e-3);
      assert.equal(o.constructor, cls);
      assert.equal(o.getClassName(), className);
      o.dispose();
    }
    await tf.setBackend('cpu');
    const plain = makeOptimizer('adam', 1e-3);
    assert.equal(plain.constructor, tf.AdamOptimizer);
    assert.equal(plain.getClassName(), 'Adam');
    plain.dispose();
    await tf.setBackend('wasm');
  });

  test('tensors that share a buffer with a variable or a moment keep their values', async () => {
    await tf.setBackend('wasm');
    const w = tf.variable(tf.tensor(rand(40, 3), [40]), true, `shared_${++run}`);
    const opt = new NativeAdamOptimizer(0.1);
    const step = (seed: number) => tf.tidy(() => opt.applyGradients([{ name: w.name, tensor: tf.tensor(rand(40, seed), [40]) }]));
    step(1);
    const before = Float32Array.from(w.dataSync());
    const alias = tf.reshape(w, [4, 10]); // same buffer (on wasm, clone() copies; reshape shares)
    const [iter, m] = await opt.getWeights();
    const mBefore = Float32Array.from(m!.tensor.dataSync());
    const mAlias = tf.reshape(m!.tensor, [10, 4]);
    const held = tf.tensor(rand(40, 4), [40]);
    const heldBefore = Float32Array.from(held.dataSync());
    nativeOptimizerStats(true);
    step(2);
    assert.deepEqual(alias.dataSync(), before, 'a reshape of the variable changed');
    assert.deepEqual(mAlias.dataSync(), mBefore, 'a reshape of the first moment changed');
    assert.notDeepEqual(w.dataSync(), before, 'the variable did not change');
    w.assign(held); // the variable now shares `held`'s buffer
    step(3);
    assert.deepEqual(held.dataSync(), heldBefore, 'a tensor assigned to the variable changed');
    assert.notDeepEqual(w.dataSync(), heldBefore);
    const st = nativeOptimizerStats(true);
    assert.equal(st.steps, 2);
    assert.equal(st.copies, 3, 'one private copy per shared buffer');
    tf.dispose([alias, mAlias, held, iter!.tensor, w]);
    opt.dispose();
  });

  test('checkpoints move between the native Adam and tf.train.adam, both ways', async () => {
    await tf.setBackend('wasm');
    const root = mkdtempSync(join(tmpdir(), 'advtrain-adam-'));
    try {
      const state = { epoch: 1, step: 3, config: {}, history: [] };
      // native -> tfjs
      const m0 = smallModel();
      const nat0 = new NativeAdamOptimizer(0.01);
      nativeOptimizerStats(true);
      trainSteps(m0, nat0, 3);
      assert.equal(nativeOptimizerStats().steps, 3);
      await saveCheckpoint(join(root, 'a'), m0, nat0, state, meta);
      const ca = await loadCheckpoint(join(root, 'a'));
      const plain = tf.train.adam(0.01);
      await ca.restoreOptimizer(plain);
      trainSteps(m0, nat0, 3);
      trainSteps(ca.model, plain, 3);
      assertSameWeights(ca.model, m0, 'native -> tf.train.adam');
      // tfjs -> native
      await saveCheckpoint(join(root, 'b'), ca.model, plain, state, meta);
      const cb = await loadCheckpoint(join(root, 'b'));
      const nat1 = new NativeAdamOptimizer(0.01);
      await cb.restoreOptimizer(nat1);
      nativeOptimizerStats(true);
      const count = tf.memory().numTensors;
      trainSteps(cb.model, nat1, 3);
      assert.equal(tf.memory().numTensors, count, 'native steps after a restore leaked tensors');
      assert.equal(nativeOptimizerStats().steps, 3);
      trainSteps(ca.model, plain, 3);
      assertSameWeights(cb.model, ca.model, 'tf.train.adam -> native');
      for (const o of [nat0, plain, nat1]) o.dispose();
      for (const m of [m0, ca.model, cb.model]) m.dispose();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('a training step of a layers model copies no buffer and leaks no tensor', async () => {
    await tf.setBackend('wasm');
    const model = smallModel();
    const opt = new NativeAdamOptimizer(0.01);
    trainSteps(model, opt, 1);
    const count = tf.memory().numTensors;
    nativeOptimizerStats(true);
    trainSteps(model, opt, 3);
    const st = nativeOptimizerStats(true);
    assert.equal(st.steps, 3);
    assert.equal(st.copies, 0, 'a variable shared its buffer: every step pays a copy');
    assert.equal(tf.memory().numTensors, count);
    opt.dispose();
    model.dispose();
  });
});
