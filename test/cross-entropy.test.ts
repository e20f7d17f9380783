/**
 * The one softmax cross-entropy (src/engine/cross-entropy.ts): on the native engine one kernel each
 * way, elsewhere tfjs's composition. Values and gradients equal the composition's on the cpu
 * backend (the reference) and on plain wasm, for random logits up to ±1000, class indices, one-hot
 * and soft labels, every reduction; no tensor is left behind; the attacks' 'ce' objective and the
 * training loss run the kernel. Skipped when the addon is not built, unless ADVTRAIN_REQUIRE_NATIVE=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { nativeSuite } from './native-harness.js';
import { rand, relErr } from './helpers.js';
import { softmaxCrossEntropy, softmaxCrossEntropyComposition, type CrossEntropyReduction } from '../src/engine/cross-entropy.js';
import { nativeKernelStats, setNativeKernelEnabled, SOFTMAX_CROSS_ENTROPY } from '../src/engine/native/index.js';
import { attackObjective } from '../src/attacks/losses.js';
import { standardStrategy } from '../src/training/strategy.js';
import { fromLayersModel, type LayersClassifier } from '../src/model/classifier.js';
import { buildZooModel } from '../src/model/zoo.js';

const TOL = 1e-4; // the native kernel tests' tolerance (relative to the largest value)

type LabelKind = 'indices' | 'one-hot' | 'soft';
interface Case {
  rows: number;
  classes: number;
  scale: number; // logits uniform in ±scale
  labels: LabelKind;
}

const CASES: Case[] = [
  { rows: 64, classes: 10, scale: 3, labels: 'indices' },
  { rows: 64, classes: 10, scale: 3, labels: 'one-hot' },
  { rows: 256, classes: 2, scale: 1000, labels: 'indices' },
  { rows: 33, classes: 7, scale: 1000, labels: 'one-hot' },
  { rows: 17, classes: 5, scale: 60, labels: 'soft' },
  { rows: 1, classes: 3, scale: 5, labels: 'indices' },
  { rows: 300, classes: 1000, scale: 20, labels: 'indices' }, // 300K logits: split over threads
];

function labelValues(c: Case, seed: number): { values: Int32Array | Float32Array; shape: number[]; dtype: 'int32' | 'float32' } {
  const idx = Int32Array.from(rand(c.rows, seed, 0, c.classes), (v) => Math.min(c.classes - 1, Math.floor(v)));
  if (c.labels === 'indices') return { values: idx, shape: [c.rows], dtype: 'int32' };
  const y = new Float32Array(c.rows * c.classes);
  if (c.labels === 'one-hot') idx.forEach((k, r) => (y[r * c.classes + k] = 1));
  else {
    const u = rand(c.rows * c.classes, seed + 1, 0, 1);
    for (let r = 0; r < c.rows; r++) {
      let s = 0;
      for (let j = 0; j < c.classes; j++) s += u[r * c.classes + j]!;
      for (let j = 0; j < c.classes; j++) y[r * c.classes + j] = u[r * c.classes + j]! / s;
    }
  }
  return { values: y, shape: [c.rows, c.classes], dtype: 'float32' };
}

type Loss = (logits: tf.Tensor, labels: tf.Tensor, reduction: CrossEntropyReduction) => tf.Tensor;

/** The loss, the logits' gradient of a weighted sum of it, and (distributions) the labels' gradient. */
function lossAndGrads(f: Loss, c: Case, reduction: CrossEntropyReduction, seed: number): Float32Array[] {
  const before = tf.memory().numTensors;
  const outs = tf.tidy(() => {
    const z = tf.tensor(rand(c.rows * c.classes, seed, -c.scale, c.scale), [c.rows, c.classes]);
    const l = labelValues(c, seed + 7);
    const y = tf.tensor(l.values, l.shape, l.dtype);
    const w = reduction === 'none' ? tf.tensor(rand(c.rows, seed + 3, 0.5, 2)) : tf.scalar(1.7);
    const objective = (zi: tf.Tensor, yi: tf.Tensor) => tf.sum(tf.mul(f(zi, yi, reduction), w)) as tf.Scalar;
    const out = [f(z, y, reduction), tf.grad((zi: tf.Tensor) => objective(zi, y))(z)];
    if (c.labels !== 'indices') out.push(tf.grads((zi: tf.Tensor, yi: tf.Tensor) => objective(zi, yi))([z, y])[1]!);
    return out;
  });
  const values = outs.map((t) => t.dataSync() as Float32Array);
  tf.dispose(outs);
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
  return values;
}

function compare(label: string, got: Float32Array[], ref: Float32Array[]): void {
  const names = ['loss', 'logits gradient', 'labels gradient'];
  assert.equal(got.length, ref.length);
  for (let i = 0; i < ref.length; i++) {
    const e = relErr(got[i]!, ref[i]!);
    assert.ok(e <= TOL, `${label}: ${names[i]} differs by ${e.toExponential(2)}`);
  }
}

nativeSuite('the fused softmax cross-entropy equals tfjs', () => {
  for (const c of CASES) {
    for (const reduction of ['none', 'sum', 'mean'] as const) {
      test(`${c.rows}×${c.classes}, logits ±${c.scale}, ${c.labels}, ${reduction}: as the composition on cpu and on wasm`, async () => {
        await tf.setBackend('cpu');
        const ref = lossAndGrads(softmaxCrossEntropy, c, reduction, 11);
        compare('cpu: the function is the composition', ref, lossAndGrads(softmaxCrossEntropyComposition, c, reduction, 11));
        await tf.setBackend('wasm');
        setNativeKernelEnabled(SOFTMAX_CROSS_ENTROPY, false);
        nativeKernelStats(true);
        compare('plain wasm', lossAndGrads(softmaxCrossEntropy, c, reduction, 11), ref);
        assert.equal(nativeKernelStats(true)[SOFTMAX_CROSS_ENTROPY]?.native ?? 0, 0, 'the kernel ran while switched off');
        setNativeKernelEnabled(SOFTMAX_CROSS_ENTROPY, true);
        compare('native', lossAndGrads(softmaxCrossEntropy, c, reduction, 11), ref);
        const ran = nativeKernelStats(true)[SOFTMAX_CROSS_ENTROPY]?.native ?? 0;
        assert.ok(ran >= 2, `the kernel ran ${ran} times`);
      });
    }
  }

  test('a class index outside the classes gives loss 0 and gradient 0, as the one-hot composition', async () => {
    await tf.setBackend('wasm');
    const run = (f: Loss) =>
      tf.tidy(() => {
        const z = tf.tensor2d([[1, 2, 3], [4, -5, 6], [0.5, 0, -1]]);
        const y = tf.tensor1d([2, 3, -1], 'int32');
        return [f(z, y, 'none'), tf.grad((zi: tf.Tensor) => tf.sum(f(zi, y, 'none')) as tf.Scalar)(z)].map((t) => Array.from(t.dataSync()));
      });
    const [loss, grad] = run(softmaxCrossEntropy);
    const [refLoss, refGrad] = run(softmaxCrossEntropyComposition);
    assert.ok(relErr(loss!, refLoss!) <= TOL && relErr(grad!, refGrad!) <= TOL);
    assert.deepEqual(loss!.slice(1).map(Math.abs), [0, 0]);
    assert.deepEqual(grad!.slice(3).map(Math.abs), [0, 0, 0, 0, 0, 0]);
    assert.ok(loss![0]! > 0);
  });

  test("the attacks' 'ce' objective and the training loss run the kernel, leaving no tensor behind", async () => {
    await tf.setBackend('wasm');
    const model = buildZooModel('mlp', { inputShape: [12], numClasses: 3, seed: 0 });
    const clf = fromLayersModel(model, { domain: { lower: 0, upper: 1 } }) as LayersClassifier;
    const x = tf.tensor(rand(8 * 12, 5, 0, 1), [8, 12]);
    const labels = tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32');
    const ys = tf.cast(tf.oneHot(labels, 3), 'float32') as tf.Tensor2D;
    const before = tf.memory().numTensors;
    nativeKernelStats(true);
    const [native, nativeLoss] = tf.tidy(() => [
      tf.grad((xi: tf.Tensor) => tf.sum(attackObjective('ce', clf.logits(xi), labels)) as tf.Scalar)(x).dataSync() as Float32Array,
      standardStrategy.loss(clf, { xs: x, ys, labels } as never).loss.dataSync() as Float32Array,
    ]);
    assert.equal(nativeKernelStats(true)[SOFTMAX_CROSS_ENTROPY]?.native, 2);
    setNativeKernelEnabled(SOFTMAX_CROSS_ENTROPY, false);
    const [ref, refLoss] = tf.tidy(() => [
      tf.grad((xi: tf.Tensor) => tf.sum(attackObjective('ce', clf.logits(xi), labels)) as tf.Scalar)(x).dataSync() as Float32Array,
      standardStrategy.loss(clf, { xs: x, ys, labels } as never).loss.dataSync() as Float32Array,
    ]);
    setNativeKernelEnabled(SOFTMAX_CROSS_ENTROPY, true);
    assert.equal(tf.memory().numTensors, before, 'tensors leaked');
    assert.ok(relErr(native!, ref!) <= TOL, 'input gradient of the ce objective');
    assert.ok(relErr(nativeLoss!, refLoss!) <= TOL, 'training loss');
    assert.ok(ref!.some((v) => v !== 0));
    tf.dispose([x, labels, ys]);
    model.dispose();
  });
});
