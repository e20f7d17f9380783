/**
 * The native engine's fused dense stack (src/engine/native/fused-model.ts): MLPs run as one kernel
 * forward and one backward through the Classifier adapter, with the same logits, input gradients
 * and weight gradients as tfjs-layers' own layer-by-layer path, and without tensor or heap growth.
 * Skipped when the addon is not built, unless ADVTRAIN_REQUIRE_NATIVE=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { nativeSuite } from './native-harness.js';
import { rand, relErr, W, X, dual } from './helpers.js';
import { lpThreat } from '../src/threat/threat-model.js';
import { Pgd } from '../src/attacks/pgd.js';
import { DENSE_STACK, DENSE_STACK_CROSS_ENTROPY, denseStackPlan, nativeKernelStats, setNativeKernelEnabled, nativeHost } from '../src/engine/native/index.js';
import { probe } from '../src/attacks/gradient.js';
import type { Classifier } from '../src/model/classifier.js';
import { buildZooModel } from '../src/model/zoo.js';
import { fromLayersModel } from '../src/model/classifier.js';

const TOL = 1e-4; // the native kernel tests' tolerance (relative to the largest value)

interface Case {
  name: string;
  build: () => tfl.LayersModel;
  inputShape: number[];
  classes: number;
  batch: number;
}

function custom(): tfl.LayersModel {
  // A linear Dense followed by a ReLU layer, a Dense without bias, Dropout (inference only fused).
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [7], units: 9, kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
      tfl.layers.reLU(),
      tfl.layers.dense({ units: 6, useBias: false, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
      tfl.layers.dropout({ rate: 0 }),
      tfl.layers.dense({ units: 3, biasInitializer: tfl.initializers.randomUniform({ minval: -1, maxval: 1, seed: 3 }), kernelInitializer: tfl.initializers.glorotUniform({ seed: 4 }) }),
    ],
  });
}

const CASES: Case[] = [
  { name: 'zoo mlp on images', build: () => buildZooModel('mlp', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 }), inputShape: [28, 28, 1], classes: 10, batch: 16 },
  { name: 'zoo mlp, tabular', build: () => buildZooModel('mlp', { inputShape: [120], numClasses: 2, seed: 1, init: 'torch' }), inputShape: [120], classes: 2, batch: 33 },
  { name: 'dense + ReLU layer + no-bias dense + dropout(0)', build: custom, inputShape: [7], classes: 3, batch: 5 },
];

/** Logits, the input gradient of the CE loss, and every weight's gradient, through the adapter. */
function run(model: tfl.LayersModel, c: Case, seed: number): Float32Array[] {
  const clf = fromLayersModel(model, { domain: { lower: 0, upper: 1 } });
  const x = tf.tensor(rand(c.batch * c.inputShape.reduce((p, d) => p * d, 1), seed, 0, 1), [c.batch, ...c.inputShape]);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: c.batch }, (_, i) => (i * 7 + seed) % c.classes), 'int32'), c.classes);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const outs = tf.tidy(() => {
    const z = clf.logits(x);
    const gx = tf.grad((xi: tf.Tensor) => tf.losses.softmaxCrossEntropy(y, clf.logits(xi)) as tf.Scalar)(x);
    const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, clf.trainingLogits(x)) as tf.Scalar, vars);
    return [z, gx, ...vars.map((v) => grads[v.name]!)];
  });
  const values = outs.map((t) => t.dataSync() as Float32Array);
  tf.dispose([...outs, x, y]);
  return values;
}

function compare(label: string, got: Float32Array[], ref: Float32Array[]): void {
  assert.equal(got.length, ref.length);
  const names = ['logits', 'input gradient'];
  for (let i = 0; i < ref.length; i++) {
    const e = relErr(got[i]!, ref[i]!);
    assert.ok(e <= TOL, `${label}: ${names[i] ?? `weight gradient ${i - 2}`} differs from tfjs by ${e.toExponential(2)}`);
  }
}

nativeSuite('the fused dense stack equals tfjs-layers', () => {
  for (const c of CASES) {
    test(`${c.name}: logits, input and weight gradients as tfjs-layers computes them`, () => {
      assert.ok(nativeHost(), 'the native engine is active');
      const model = c.build();
      assert.ok(denseStackPlan(model), 'the model is a dense stack');
      setNativeKernelEnabled(DENSE_STACK, false);
      const ref = run(model, c, 5);
      setNativeKernelEnabled(DENSE_STACK, true);
      nativeKernelStats(true);
      const got = run(model, c, 5);
      // logits, the input gradient's forward, the training forward
      assert.equal(nativeKernelStats(true)[DENSE_STACK]?.native, 3, 'the dense stack ran once per forward pass');
      compare(c.name, got, ref);
      model.dispose();
    });
  }

  /** probe(clf, x, y, 'ce')'s logits, objective, success and gradient, and how often the one-call probe ran. */
  function probeValues(clf: Classifier, c: Case, seed: number): { values: Float32Array[]; fused: number } {
    const x = tf.tensor(rand(c.batch * c.inputShape.reduce((p, d) => p * d, 1), seed, 0, 1), [c.batch, ...c.inputShape]);
    const y = tf.tensor1d(Array.from({ length: c.batch }, (_, i) => (i * 7 + seed) % c.classes), 'int32');
    nativeKernelStats(true);
    const before = tf.memory().numTensors;
    const p = probe(clf, x, y, 'ce');
    const outs = [p.logits, p.objective, p.success, p.grad];
    assert.deepEqual(outs.map((t) => t.dtype), ['float32', 'float32', 'bool', 'float32']);
    assert.equal(tf.memory().numTensors, before + 4, 'the probe made its 4 outputs and nothing else');
    const values = outs.map((t) => Float32Array.from(t.dataSync() as ArrayLike<number>));
    tf.dispose([...outs, x, y]);
    return { values, fused: nativeKernelStats(true)[DENSE_STACK_CROSS_ENTROPY]?.native ?? 0 };
  }

  test("an attack's cross-entropy probe runs as one native call with the tape's logits, losses, successes and gradient", () => {
    const cases: Case[] = [...CASES, { ...CASES[0]!, batch: 64 }, { ...CASES[1]!, batch: 300 }];
    for (const c of cases) {
      const model = c.build();
      const clf = fromLayersModel(model, { domain: { lower: 0, upper: 1 } });
      setNativeKernelEnabled(DENSE_STACK_CROSS_ENTROPY, false);
      const ref = probeValues(clf, c, 11);
      setNativeKernelEnabled(DENSE_STACK_CROSS_ENTROPY, true);
      const got = probeValues(clf, c, 11);
      assert.equal(ref.fused, 0, 'switched off, the tape ran');
      assert.equal(got.fused, 1, `${c.name}: one native call`);
      ['logits', 'objective', 'success', 'input gradient'].forEach((name, i) => {
        const e = relErr(got.values[i]!, ref.values[i]!);
        assert.ok(e <= TOL, `${c.name}, batch ${c.batch}: ${name} differs from the tape by ${e.toExponential(2)}`);
      });
      model.dispose();
    }
  });

  test('a wrapper that changes the logits does not inherit the one-call probe', () => {
    const c = CASES[1]!;
    const model = c.build();
    const clf = fromLayersModel(model, { domain: { lower: 0, upper: 1 } });
    const bonus = tf.tensor1d([3, -3]);
    const shifted: Classifier = { ...clf, logits: (x) => tf.tidy(() => tf.add(clf.logits(x), bonus)) };
    const got = probeValues(shifted, c, 12);
    assert.equal(got.fused, 0, 'the wrapper ran on the tape');
    setNativeKernelEnabled(DENSE_STACK_CROSS_ENTROPY, false);
    const ref = probeValues(shifted, c, 12);
    setNativeKernelEnabled(DENSE_STACK_CROSS_ENTROPY, true);
    got.values.forEach((v, i) => assert.ok(relErr(v, ref.values[i]!) <= TOL));
    const plain = probeValues({ ...clf, domain: { lower: -1, upper: 2 } }, c, 12);
    assert.equal(plain.fused, 1, 'a wrapper that keeps the logits keeps the probe');
    assert.ok(relErr(plain.values[1]!, got.values[1]!) > 1e-3, 'the bonus changes the losses');
    bonus.dispose();
    model.dispose();
  });

  test('the backward recomputes the activations where the tape saved a copy of the logits', () => {
    const c = CASES[1]!;
    const model = c.build();
    setNativeKernelEnabled(DENSE_STACK, false);
    const ref = run(model, c, 9);
    setNativeKernelEnabled(DENSE_STACK, true);
    setNativeKernelEnabled(tf.Identity, false); // the tape's clone copies
    try {
      compare('recomputed', run(model, c, 9), ref);
    } finally {
      setNativeKernelEnabled(tf.Identity, true);
    }
    model.dispose();
  });

  test('models with other layers, dropout in training, or another input run as tfjs-layers does', () => {
    const cnn = buildZooModel('mnist-small', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    assert.equal(denseStackPlan(cnn), null);
    cnn.dispose();
    const drop = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [4], units: 3, activation: 'relu' }), tfl.layers.dropout({ rate: 0.5 }), tfl.layers.dense({ units: 2 })] });
    const clf = fromLayersModel(drop, { domain: { lower: 0, upper: 1 } });
    nativeKernelStats(true);
    tf.tidy(() => {
      clf.logits(tf.ones([2, 4]));
      clf.trainingLogits(tf.ones([2, 4]));
      clf.logits(tf.ones([2, 4], 'int32'));
    });
    assert.equal(nativeKernelStats(true)[DENSE_STACK]?.native, 1, 'only the float32 inference pass is fused');
    drop.dispose();
  });

  test('a PGD attack through the Classifier runs on the stack: a linear Dense model falls at 1.02× its closed-form minimal ε, not at 0.98×', async () => {
    // logits [w·x, 0]: the minimal L∞ perturbation is |w·x| / ‖w‖₁
    const model = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [W.length], units: 2 })] });
    model.setWeights([tf.tensor2d(W.map((w) => [w, 0])), tf.zeros([2])]);
    const clf = fromLayersModel(model, { domain: { lower: -100, upper: 100 } });
    nativeKernelStats(true);
    for (const row of X) {
      const f = row.reduce((s, v, i) => s + v * W[i]!, 0);
      const minEps = Math.abs(f) / dual.linf(W);
      for (const [scale, expect] of [[1.02, 1], [0.98, 0]] as const) {
        const x = tf.tensor2d([row]);
        const y = tf.tensor1d([f > 0 ? 0 : 1], 'int32');
        const r = await new Pgd({ steps: 100, stepSize: (minEps * scale) / 20, randomStart: false }).run(clf, x, y, { threat: lpThreat('linf', minEps * scale) });
        assert.equal(r.success[0], expect, `ε = ${scale}× the minimum: success ${r.success[0]}`);
        tf.dispose([r.xAdv, x, y]);
      }
    }
    const stats = nativeKernelStats(true);
    const ran = (stats[DENSE_STACK]?.native ?? 0) + (stats[DENSE_STACK_CROSS_ENTROPY]?.native ?? 0);
    assert.ok(ran >= 60, `the attack ran its steps on the dense stack (${ran} calls)`);
    model.dispose();
  });

  test('no tensor or wasm heap growth over repeated training and attack steps', () => {
    const c = CASES[0]!;
    const model = c.build();
    const clf = fromLayersModel(model, { domain: { lower: 0, upper: 1 } });
    const x = tf.tensor(rand(c.batch * 784, 3, 0, 1), [c.batch, ...c.inputShape]);
    const y = tf.oneHot(tf.tensor1d(Array.from({ length: c.batch }, (_, i) => i % 10), 'int32'), 10);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const opt = tf.train.sgd(0.01);
    const step = () => tf.tidy(() => {
      const g = tf.grad((xi: tf.Tensor) => tf.losses.softmaxCrossEntropy(y, clf.logits(xi)) as tf.Scalar)(x);
      const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, clf.trainingLogits(tf.add(x, tf.mul(tf.sign(g), 0.01)))) as tf.Scalar, vars);
      opt.applyGradients(grads);
    });
    for (let i = 0; i < 20; i++) step();
    const tensors = tf.memory().numTensors;
    const heap = (nativeHost()!.backend.wasm.HEAPU8 as Uint8Array).length;
    nativeKernelStats(true);
    for (let i = 0; i < 300; i++) step();
    assert.equal(nativeKernelStats(true)[DENSE_STACK]?.native, 600);
    assert.equal(tf.memory().numTensors, tensors, 'tensors leaked');
    assert.equal((nativeHost()!.backend.wasm.HEAPU8 as Uint8Array).length, heap, 'the wasm heap grew');
    tf.dispose([x, y]);
    opt.dispose();
    model.dispose();
  });
});
