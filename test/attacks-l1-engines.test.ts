/**
 * L1 attacks on every engine (issue 15, item 1). The l1 projection gathers one threshold per row
 * (`tf.gather(cums, rho, 1, 1)`, batchDims 1); tfjs-backend-wasm 4.22's GatherV2 reads that out of
 * bounds, so every L1 attack crashed on wasm and native ("memory access out of bounds") or, with
 * few rows, projected with garbage thresholds (FAB returned points beyond ε). Here each attack
 * runs on cpu, wasm and native on the same model, inputs and seed: no crash, every result inside
 * the l1 ball and the domain, and the same results as cpu. The native engine is skipped only when
 * its addon is not built and ADVTRAIN_REQUIRE_NATIVE is not 1 (CI sets it: there it must run).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/engine/backend.js';
import { loadNativeAddon } from '../src/engine/native/index.js';
import { lpThreat } from '../src/threat/threat-model.js';
import { createAttack, type AttackFlags } from '../src/attacks/registry.js';
import type { AttackResult } from '../src/attacks/attack.js';
import { buildZooModel } from '../src/model/zoo.js';
import { fromLayersModel } from '../src/model/classifier.js';
import { assertFeasible, rand } from './helpers.js';

const loaded = loadNativeAddon();
const required = process.env.ADVTRAIN_REQUIRE_NATIVE === '1';
const nativeSkip = loaded.ok || required ? false : `native engine unavailable: ${loaded.reason}`;

const N = 13; // rows of the crashing CLI run (13 of 20 MNIST examples attacked)
const SHAPE = [28, 28, 1];
const D = 784;
const DOMAIN = { lower: 0, upper: 1 };
const xValues = rand(N * D, 15, 0, 1);

/** An untrained MNIST-sized MLP (fixed seed) and the inputs labelled with its own predictions. */
async function setup(engine: 'cpu' | 'wasm' | 'native') {
  await selectBackend(engine, { threads: 1 });
  const model = buildZooModel('mlp', { inputShape: SHAPE, numClasses: 10, seed: 4 });
  const clf = fromLayersModel(model, { domain: DOMAIN });
  const x = tf.tensor(xValues, [N, ...SHAPE]);
  const y = tf.tidy(() => tf.cast(tf.argMax(clf.logits(x), 1), 'int32')) as tf.Tensor1D;
  return { model, clf, x, y };
}

interface Case {
  attack: string;
  flags: AttackFlags;
  eps: number;
}

const CASES: Case[] = [
  // ε = 2 breaks 5 of the 13 inputs: successes and failures both compared with cpu.
  { attack: 'fgsm', flags: {}, eps: 2 },
  { attack: 'pgd', flags: { steps: 5 }, eps: 2 },
  { attack: 'apgd-ce', flags: { steps: 5 }, eps: 2 },
  // Below most minimal distances (0.25 to 3.3): FAB's points beyond ε go through the l1 projection.
  { attack: 'fab', flags: { steps: 5 }, eps: 1 },
];

interface Outcome {
  xAdv: Float32Array;
  success: number[];
  distance: number[];
}

async function runCase(engine: 'cpu' | 'wasm' | 'native', c: Case): Promise<Outcome> {
  const { model, clf, x, y } = await setup(engine);
  const before = tf.memory().numTensors;
  let r: AttackResult;
  try {
    r = await createAttack(c.attack, c.flags).run(clf, x, y, { threat: lpThreat('l1', c.eps), seed: 7 });
  } catch (e) {
    tf.dispose([x, y]);
    model.dispose();
    throw e;
  }
  // The projection runs in float32: a sum of 784 terms may end ~1e-6 relative above ε.
  assertFeasible(r, x, 'l1', c.eps * (1 + 1e-5), DOMAIN, { label: `${c.attack} on ${engine}`, reported: 1e-4 });
  const out = { xAdv: r.xAdv.dataSync().slice() as Float32Array, success: Array.from(r.success), distance: Array.from(r.distance) };
  r.xAdv.dispose();
  assert.equal(tf.memory().numTensors, before, `${c.attack} on ${engine}: tensors leaked`);
  tf.dispose([x, y]);
  model.dispose();
  return out;
}

for (const c of CASES) {
  const label = `${c.attack} at l1:${c.eps}`;
  const ref: { cpu?: Outcome } = {};
  test(`${label} on cpu (the reference) stays in the ball and the domain`, async () => {
    ref.cpu = await runCase('cpu', c);
  });
  for (const engine of ['wasm', 'native'] as const) {
    test(`${label} on ${engine} runs, stays in the ball and the domain, and equals cpu`, { skip: engine === 'native' ? nativeSkip : false }, async () => {
      const got = await runCase(engine, c);
      assert.ok(ref.cpu, 'the cpu reference ran');
      assert.deepEqual(got.success, ref.cpu.success, `${label} on ${engine}: successes differ from cpu`);
      let worst = 0;
      for (let i = 0; i < got.xAdv.length; i++) worst = Math.max(worst, Math.abs(got.xAdv[i]! - ref.cpu.xAdv[i]!));
      assert.ok(worst <= 1e-3, `${label} on ${engine}: |xAdv - cpu| up to ${worst}`);
      for (let i = 0; i < N; i++) assert.ok(Math.abs(got.distance[i]! - ref.cpu.distance[i]!) <= 1e-3, `${label} on ${engine}: row ${i} distance ${got.distance[i]} vs cpu ${ref.cpu.distance[i]}`);
    });
  }
}
