import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/engine/backend.js';
import { saveCheckpoint, loadCheckpoint } from '../src/training/checkpoint.js';
import type { ModelMetadata } from '../src/model/io.js';
import { rand } from './helpers.js';

const meta: ModelMetadata = { inputShape: [6], numClasses: 3, domain: { lower: 0, upper: 1 }, output: 'logits' };

function model(): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 9, inputShape: [6], activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
      tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
}

function steps(m: tfl.LayersModel, opt: tf.Optimizer, from: number, n: number): void {
  for (let i = from; i < from + n; i++) {
    tf.tidy(() => {
      const x = tf.tensor(rand(8 * 6, 7 + i), [8, 6]);
      const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 1, 0], 'int32'), 3);
      const vars = m.trainableWeights.map((w) => w.read() as tf.Variable);
      const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, m.apply(x) as tf.Tensor) as tf.Scalar, vars);
      opt.applyGradients(grads);
    });
  }
}

// The defect of issue 22: tfjs's Adam.setWeights() re-derives β₁ᵗ, β₂ᵗ as pow(β, t+1), which
// differs in the last bits from the running product the uninterrupted optimizer holds.
for (const name of ['adam', 'momentum'] as const) {
  test(`a ${name} optimizer restored from a checkpoint after 20 steps steps bit for bit like the one never saved`, async () => {
    await selectBackend('wasm');
    const root = mkdtempSync(join(tmpdir(), 'advtrain-ckpt-'));
    const make = () => (name === 'adam' ? tf.train.adam(0.01) : tf.train.momentum(0.01, 0.9));
    try {
      const a = model();
      const optA = make();
      steps(a, optA, 0, 20);
      await saveCheckpoint(root, a, optA, { epoch: 1, step: 20, config: {}, history: [] }, meta);
      const ck = await loadCheckpoint(root);
      const optB = make();
      await ck.restoreOptimizer(optB);
      const before = tf.memory().numTensors;
      steps(a, optA, 20, 5);
      steps(ck.model, optB, 20, 5);
      assert.equal(tf.memory().numTensors, before, 'steps after a restore leaked tensors');
      const wa = a.getWeights().map((w) => Array.from(w.dataSync()));
      const wb = ck.model.getWeights().map((w) => Array.from(w.dataSync()));
      assert.deepEqual(wb, wa);
      optA.dispose();
      optB.dispose();
      a.dispose();
      ck.model.dispose();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
}
