import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { selectBackend } from '../src/engine/backend.js';
import { fileHandler, loadModel, saveModel, type ModelMetadata } from '../src/model/io.js';
import { fromFunction } from '../src/model/classifier.js';
import { loadOnnxClassifier } from '../src/model/onnx.js';
import { evaluate } from '../src/eval/evaluate.js';
import { Pgd } from '../src/attacks/pgd.js';
import { SquareAttack } from '../src/attacks/square.js';
import { parseThreat } from '../src/threat/threat-model.js';
import { UserError } from '../src/errors.js';
import type { Dataset } from '../src/data/dataset.js';
import { encodeOnnxModel } from './fixtures/onnx-writer.js';

// A user's own model, as the README's "Bring your own model" describes it: saved with tfjs's
// handlers (no advtrain metadata), ending in a softmax, given as its model.json, or an ONNX file.

const dir = mkdtempSync(join(tmpdir(), 'advtrain-own-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

function tinyDataset(n = 8, d = 4, classes = 3): Dataset {
  const x = Float32Array.from({ length: n * d }, (_, i) => ((i * 7919) % 97) / 97);
  const y = Int32Array.from({ length: n }, (_, i) => i % classes);
  return { name: 'tiny', x, y, n, shape: [d], numClasses: classes, classNames: ['a', 'b', 'c'], domain: { lower: 0, upper: 1 } } as unknown as Dataset;
}

function softmaxModel(withLayer: boolean): tfl.LayersModel {
  const m = tfl.sequential();
  m.add(tfl.layers.dense({ inputShape: [4], units: 3, activation: withLayer ? 'linear' : 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }));
  if (withLayer) m.add(tfl.layers.softmax());
  return m;
}

test('a softmax model saved without metadata is read as probabilities (logits = log p), and says so once', async () => {
  await selectBackend('cpu');
  for (const withLayer of [false, true]) {
    const m = softmaxModel(withLayer);
    const path = join(dir, `softmax-${withLayer}`);
    await m.save(fileHandler(path)); // tfjs's own save: no advtrain metadata
    const notes: string[] = [];
    const { classifier, notes: returned } = await loadModel(path, undefined, { onNote: (s) => notes.push(s) });
    assert.equal(notes.length, 1, `one note (${withLayer ? 'Softmax layer' : 'softmax activation'})`);
    assert.deepEqual(returned, notes);
    assert.match(notes[0]!, /ends in a softmax .* probabilities/);
    const x = tf.tensor2d([[0.1, 0.9, 0.3, 0.5], [1, 0, 0.2, 0.7]]);
    const logits = classifier.logits(x);
    const probs = m.predict(x) as tf.Tensor;
    const expected = tf.log(probs);
    const diff = tf.max(tf.abs(tf.sub(logits, expected))).dataSync()[0]!;
    assert.ok(diff < 1e-5, `logits are log p (max diff ${diff})`);
    // Read as logits, a softmax of probabilities would squash every margin below 1.
    const spread = tf.sub(tf.max(logits, 1), tf.min(logits, 1)).dataSync();
    assert.ok(spread.some((v) => v > 0), 'not flattened');
    tf.dispose([x, logits, probs, expected]);
    m.dispose();
  }
});

test('metadata that contradicts the model is refused in one line naming both', async () => {
  await selectBackend('cpu');
  const meta: ModelMetadata = { inputShape: [4], numClasses: 3, domain: { lower: 0, upper: 1 }, output: 'logits' };
  const cases: [string, tfl.LayersModel, ModelMetadata, RegExp][] = [
    ['shape', softmaxModel(false), { ...meta, output: 'probabilities', inputShape: [28, 28, 1] }, /inputShape \[28, 28, 1\] but the model takes \[4\]: correct inputShape/],
    ['classes', softmaxModel(false), { ...meta, output: 'probabilities', numClasses: 10 }, /numClasses 10 but the model outputs 3/],
    ['softmax', softmaxModel(true), meta, /says output 'logits' but the model ends in a softmax: set output to 'probabilities'/],
  ];
  for (const [name, model, m, pattern] of cases) {
    const path = join(dir, `meta-${name}`);
    await saveModel(path, model, m);
    model.dispose();
    await assert.rejects(loadModel(path), (e: Error) => e instanceof UserError && pattern.test(e.message) && !e.message.includes('\n'), name);
  }
});

test('a model is loaded from its model.json as from its folder', async () => {
  await selectBackend('cpu');
  const m = softmaxModel(false);
  const path = join(dir, 'by-file');
  await saveModel(path, m, { inputShape: [4], numClasses: 3, domain: { lower: 0, upper: 1 }, output: 'probabilities' });
  m.dispose();
  const { classifier, location } = await loadModel(join(path, 'model.json'));
  assert.deepEqual(classifier.inputShape, [4]);
  assert.equal(location.dir, path);
});

test('evaluate() without describe fills engine, versions and data set from the running process', async () => {
  await selectBackend('cpu');
  const w = tf.keep(tf.tensor2d([1, 0, 0, 0, 1, 0, 0, 0, 1, 0.5, 0.5, 0.5], [4, 3]));
  const clf = fromFunction((x) => tf.matMul(x as tf.Tensor2D, w), { inputShape: [4], numClasses: 3, domain: { lower: 0, upper: 1 } });
  const before = tf.memory().numTensors;
  const r = await evaluate(clf, tinyDataset(), { threat: parseThreat('linf:0.05'), preset: 'quick', checks: false, gallery: 0 });
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(r.engine, { backend: 'cpu' });
  assert.deepEqual(r.versions, { advtrain: VERSION, tfjs: tf.version_core, node: process.version });
  assert.equal(r.data.dataset, 'tiny');
  assert.equal(r.model.path, 'memory');
  w.dispose();
});

test('gradients asked of an ONNX model give one clear line naming the query-only attacks, not tfjs\'s "Cannot compute gradient"', async () => {
  await selectBackend('cpu');
  const path = join(dir, 'linear.onnx');
  writeFileSync(
    path,
    encodeOnnxModel({
      inputs: [{ name: 'input', shape: ['N', 4] }],
      outputs: [{ name: 'scores', shape: ['N', 3] }],
      initializers: [
        { name: 'W', dims: [4, 3], values: [1, 0, 0, 0, 1, 0, 0, 0, 1, 0.5, 0.5, 0.5] },
        { name: 'B', dims: [3], values: [0, 0, 0] },
      ],
      nodes: [{ op: 'Gemm', inputs: ['input', 'W', 'B'], outputs: ['scores'] }],
    }),
  );
  const clf = await loadOnnxClassifier(path, { inputShape: [4], numClasses: 3, domain: { lower: 0, upper: 1 } });
  assert.equal(clf.queryOnly, true);
  const ds = tinyDataset();
  const x = tf.tensor2d(ds.x, [ds.n, 4]);
  const y = tf.tensor1d(ds.y, 'int32');
  const oneLine = (pattern: RegExp) => (e: Error) => e instanceof UserError && pattern.test(e.message) && !e.message.includes('\n');
  await assert.rejects(new Pgd({ steps: 2 }).run(clf, x, y, { threat: parseThreat('linf:0.1'), seed: 0 }), oneLine(/query.*square, hopskipjump, genattack, de/));
  await assert.rejects(evaluate(clf, ds, { threat: parseThreat('linf:0.1'), preset: 'quick' }), oneLine(/query-only .* preset 'quick' runs pgd, apgd-ce, which need gradients/));
  // The black-box path still runs.
  const r = await evaluate(clf, ds, { threat: parseThreat('linf:0.1'), preset: 'custom', members: [{ attack: new SquareAttack({ maxQueries: 20 }), access: 'black-box' }], checks: false, gallery: 0 });
  assert.ok(r.robust_accuracy <= r.clean_accuracy);
  tf.dispose([x, y]);
  clf.dispose();
});
