import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, readdirSync, writeFileSync, rmSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/engine/backend.js';
import { buildZooModel, TOKEN_ZOO_NAMES, ZOO_NAMES } from '../src/model/zoo.js';
import { fromLayersModel, fromFunction } from '../src/model/classifier.js';
import { loadModel, saveModel, type ModelMetadata } from '../src/model/io.js';
import { UserError } from '../src/errors.js';

const meta: ModelMetadata = { inputShape: [28, 28, 1], numClasses: 10, domain: { lower: 0, upper: 1 }, output: 'logits', architecture: 'mnist-small', dataset: 'mnist' };

test('every zoo model builds with the right input and output shapes', async () => {
  await selectBackend('cpu');
  for (const name of ZOO_NAMES.filter((n) => !TOKEN_ZOO_NAMES.includes(n))) {
    const m = buildZooModel(name, { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    const clf = fromLayersModel(m, { domain: { lower: 0, upper: 1 } });
    assert.deepEqual(clf.inputShape, [28, 28, 1], name);
    assert.equal(clf.numClasses, 10, name);
    const out = tf.tidy(() => clf.logits(tf.zeros([2, 28, 28, 1])).shape);
    assert.deepEqual(out, [2, 10], name);
    m.dispose();
  }
});

test('text-cnn reads token ids and refuses image input with one clear line', async () => {
  await selectBackend('cpu');
  const m = buildZooModel('text-cnn', { inputShape: [50], numClasses: 2, seed: 1, vocabSize: 300 });
  const ids = tf.tensor2d([Array.from({ length: 50 }, (_, i) => i), Array.from({ length: 50 }, (_, i) => 299 - i)], [2, 50], 'int32');
  const out = tf.tidy(() => (m.predict(ids) as tf.Tensor).shape);
  assert.deepEqual(out, [2, 2]);
  assert.equal(m.countParams(), 300 * 64 + (5 * 64 * 128 + 128) + (128 * 2 + 2));
  ids.dispose();
  m.dispose();
  assert.throws(() => buildZooModel('text-cnn', { inputShape: [28, 28, 1], numClasses: 10 }), /text-cnn needs token-id input \[length\]/);
});

test('same seed gives the same initial weights; another seed does not', async () => {
  await selectBackend('cpu');
  const w = (seed: number) => {
    const m = buildZooModel('mnist-small', { inputShape: [28, 28, 1], numClasses: 10, seed });
    const v = m.getWeights()[0]!.dataSync().slice();
    m.dispose();
    return v;
  };
  assert.deepEqual(w(3), w(3));
  assert.notDeepEqual(w(3), w(4));
});

test("init 'torch' gives PyTorch's default ranges (±1/√fan-in, biases too), seeded; unknown inits are refused", async () => {
  await selectBackend('cpu');
  const before = tf.memory().numTensors;
  const weights = (seed: number) => {
    const m = buildZooModel('mnist-small', { inputShape: [28, 28, 1], numClasses: 10, seed, init: 'torch' });
    const ws = m.getWeights().map((w) => ({ shape: w.shape, v: w.dataSync().slice() as Float32Array }));
    m.dispose();
    return ws;
  };
  const ws = weights(5);
  // mnist-small: conv 4×4×1→16, conv 4×4×16→32, dense 1568→100, dense 100→10 (kernel, bias each)
  const fanIns = [16, 16, 256, 256, 1568, 1568, 100, 100];
  assert.equal(ws.length, fanIns.length);
  ws.forEach(({ v }, i) => {
    const bound = 1 / Math.sqrt(fanIns[i]!);
    const maxAbs = v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    assert.ok(maxAbs <= bound && maxAbs > 0.8 * bound, `weight ${i}: max |w| ${maxAbs} vs bound ${bound}`);
  });
  assert.deepEqual(weights(5), ws);
  assert.notDeepEqual(weights(6)[2]!.v, ws[2]!.v);
  assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
  assert.throws(() => buildZooModel('mlp', { inputShape: [4], numClasses: 2, init: 'he' as never }), (e: Error) => e instanceof UserError && /unknown init 'he'/.test(e.message));
});

test('save and load round-trips weights, logits and metadata', async () => {
  await selectBackend('cpu');
  const dir = join(mkdtempSync(join(tmpdir(), 'advtrain-io-')), 'model');
  const m = buildZooModel('mnist-small', { inputShape: [28, 28, 1], numClasses: 10, seed: 2 });
  await saveModel(dir, m, meta);
  assert.deepEqual(readdirSync(dir).sort(), ['model.json', 'weights.bin']);
  const { classifier, layers, metadata } = await loadModel(dir);
  assert.ok(layers);
  assert.equal(metadata?.architecture, 'mnist-small');
  const x = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 5);
  const a = tf.tidy(() => fromLayersModel(m, { domain: { lower: 0, upper: 1 } }).logits(x));
  const b = tf.tidy(() => classifier.logits(x));
  assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
  tf.dispose([x, a, b]);
  m.dispose();
  layers.model.dispose();
});

test('loading a directory without model.json or with a wrong-size weights file fails with one clear line', async () => {
  await selectBackend('cpu');
  const root = mkdtempSync(join(tmpdir(), 'advtrain-io-'));
  await assert.rejects(loadModel(join(root, 'nope')), (e: Error) => e instanceof UserError && /model not found/.test(e.message));
  await assert.rejects(loadModel(root), (e: Error) => e instanceof UserError && /has no model\.json/.test(e.message));
  const dir = join(root, 'm');
  const m = buildZooModel('mlp', { inputShape: [4], numClasses: 2, seed: 0 });
  await saveModel(dir, m, { ...meta, inputShape: [4], numClasses: 2 });
  m.dispose();
  const wp = join(dir, 'weights.bin');
  truncateSync(wp, statSync(wp).size - 8);
  await assert.rejects(loadModel(dir), (e: Error) => e instanceof UserError && /weights .* have \d+ bytes but model\.json describes \d+/.test(e.message) && !e.message.includes('\n'));
  writeFileSync(join(dir, 'model.json'), '{not json');
  await assert.rejects(loadModel(dir), (e: Error) => e instanceof UserError && /not valid JSON/.test(e.message));
  rmSync(root, { recursive: true, force: true });
});

test('a model that outputs probabilities is adapted to log-probabilities at the boundary', async () => {
  await selectBackend('cpu');
  const clf = fromFunction((x) => tf.softmax(x as tf.Tensor2D), { inputShape: [3], numClasses: 3, domain: { lower: -5, upper: 5 }, output: 'probabilities' });
  const z = tf.tensor2d([[1, 2, 3]]);
  const l = tf.tidy(() => clf.logits(z));
  const expected = tf.tidy(() => tf.logSoftmax(z));
  const d = Math.max(...Array.from(tf.tidy(() => tf.abs(tf.sub(l, expected))).dataSync()));
  assert.ok(d < 1e-5, `log(softmax) differs by ${d}`);
  tf.dispose([z, l, expected]);
});

