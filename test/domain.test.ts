import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { saveModel } from '../src/model/io.js';
import { readIdx } from '../src/data/idx.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/engine/backend.js';
import { infeasibility, isBox, isFeasible, repair, repairInBall, UNIT_BOX, type Domain } from '../src/data/domain.js';
import { clipToDomain } from '../src/threat/domain-clip.js';
import { loadCsv } from '../src/data/csv.js';
import { fromFunction } from '../src/model/classifier.js';
import { Pgd } from '../src/attacks/pgd.js';
import { CwL2 } from '../src/attacks/cw-l2.js';
import { parseThreat } from '../src/threat/threat-model.js';
import { runAttack } from '../src/eval/attack-run.js';
import type { Dataset } from '../src/data/dataset.js';

/** Features: [count (integer grid, step 0.25), proto=a, proto=b, proto=c (one-hot), size (continuous)]. */
const TYPED: Domain = {
  lower: new Float32Array(5),
  upper: new Float32Array(5).fill(1),
  integers: [{ index: 0, step: 0.25 }],
  oneHot: [{ offset: 1, width: 3, name: 'proto' }],
};

/** The rows of a 2-D tensor, rounded to 1e-6; disposes the tensor. */
const rows = (t: tf.Tensor) => {
  const a = (t.arraySync() as number[][]).map((r) => r.map((v) => Math.round(v * 1e6) / 1e6));
  t.dispose();
  return a;
};

test('repair: a plain box is clipped as before; typed features go to their grid, vertex and clean value', async () => {
  await selectBackend('cpu');
  const before = tf.memory().numTensors;
  const x = tf.tensor2d([[-0.2, 0.5, 1.3], [0.4, 0.9, 2]]);
  assert.equal(isBox(UNIT_BOX), true);
  assert.deepEqual(rows(clipToDomain(x, UNIT_BOX)), rows(tf.clipByValue(x, 0, 1)));
  assert.equal(isBox(TYPED), false);

  const adv = tf.tensor2d([
    [0.4, 0.2, 0.5, 0.3, 0.77],
    [0.9, 0.1, 0.1, 0.05, 1.4],
  ]);
  // Without the clean input: nearest grid value and the largest category.
  assert.deepEqual(rows(repair(TYPED, adv)), [
    [0.5, 0, 1, 0, 0.77],
    [1, 1, 0, 0, 1],
  ]);
  // With it: integers truncated towards the clean value, so no coordinate moves further away.
  const clean = tf.tensor2d([
    [0.25, 1, 0, 0, 0.7],
    [0.5, 0, 0, 1, 0.9],
  ]);
  assert.deepEqual(rows(repair(TYPED, adv, clean)).map((r) => r[0]), [0.25, 0.75]);
  // Immutables come back from the clean input.
  const frozen: Domain = { ...TYPED, immutable: [0, 4] };
  const r = repair(frozen, adv, clean);
  assert.deepEqual(rows(tf.clone(r)).map((v) => [v[0], v[4]]), [[0.25, 0.7], [0.5, 0.9]]);
  assert.equal(isFeasible(frozen, r, clean), true);
  assert.equal(isFeasible(frozen, adv, clean), false);
  tf.dispose([x, adv, clean, r]);
  assert.equal(tf.memory().numTensors, before);
});

test('repairInBall keeps a one-hot group at its clean category when switching would leave the ball', async () => {
  await selectBackend('cpu');
  const clean = tf.tensor2d([[0.25, 1, 0, 0, 0.5]]);
  const adv = tf.tensor2d([[0.3, 0.45, 0.55, 0, 0.6]]);
  const small = parseThreat('linf:0.6');
  const kept = repairInBall(TYPED, adv, clean, small);
  assert.deepEqual(rows(kept), [[0.25, 1, 0, 0, 0.6]]);
  const big = parseThreat('linf:1');
  assert.deepEqual(rows(repairInBall(TYPED, adv, clean, big)), [[0.25, 0, 1, 0, 0.6]]);
  tf.dispose([clean, adv]);
});

test("integerRounding 'nearest': integers go to the nearest grid value around the clean input, and repairInBall truncates where rounding would leave the ball", async () => {
  await selectBackend('cpu');
  const before = tf.memory().numTensors;
  const nearest: Domain = { ...TYPED, integerRounding: 'nearest' };
  const clean = tf.tensor2d([
    [0.25, 1, 0, 0, 0.5],
    [0.5, 0, 0, 1, 0.5],
  ]);
  // 0.4 is 0.6 of a cell above 0.25; 0.3 is 0.8 of a cell below 0.5.
  const adv = tf.tensor2d([
    [0.4, 1, 0, 0, 0.5],
    [0.3, 0, 0, 1, 0.5],
  ]);
  assert.deepEqual(rows(repair(nearest, adv, clean)).map((r) => r[0]), [0.5, 0.25]);
  assert.deepEqual(rows(repair(TYPED, adv, clean)).map((r) => r[0]), [0.25, 0.5], 'the default still truncates');
  // linf 0.2: the first row rounded is 0.25 away (outside), the second exactly 0.25 too: both truncate; linf 0.25 keeps both.
  const tight = repairInBall(nearest, adv, clean, parseThreat('linf:0.2'));
  assert.deepEqual(rows(tight).map((r) => r[0]), [0.25, 0.5]);
  const loose = repairInBall(nearest, adv, clean, parseThreat('linf:0.25'));
  assert.deepEqual(rows(loose).map((r) => r[0]), [0.5, 0.25]);
  // l2: the first row rounded leaves a ball of 0.27 (0.29 away) and is truncated, the second stays rounded; in 0.3 both round.
  const mixed = tf.tensor2d([
    [0.4, 1, 0, 0, 0.65],
    [0.3, 0, 0, 1, 0.6],
  ]);
  assert.deepEqual(rows(repairInBall(nearest, mixed, clean, parseThreat('l2:0.27'))).map((r) => r[0]), [0.25, 0.25]);
  assert.deepEqual(rows(repairInBall(nearest, mixed, clean, parseThreat('l2:0.3'))).map((r) => r[0]), [0.5, 0.25]);
  tf.dispose([clean, adv, mixed]);
  assert.equal(tf.memory().numTensors, before);
});

test('infeasibility names what is wrong', () => {
  const ok = Float32Array.from([0.5, 0, 1, 0, 0.3]);
  assert.equal(infeasibility(TYPED, ok), undefined);
  assert.match(infeasibility(TYPED, Float32Array.from([0.6, 0, 1, 0, 0.3]))!, /feature 0 .* off its integer grid/);
  assert.match(infeasibility(TYPED, Float32Array.from([0.5, 0.5, 0.5, 0, 0.3]))!, /one-hot group proto has a fractional entry/);
  assert.match(infeasibility(TYPED, Float32Array.from([0.5, 1, 1, 0, 0.3]))!, /proto has 2 categories set/);
  assert.match(infeasibility(TYPED, Float32Array.from([0.5, 0, 1, 0, 1.3]))!, /feature 4 .* outside \[0, 1\]/);
  const rel: Domain = { ...TYPED, relations: [
    {
      name: 'size ≥ count',
      holds: (x) => x[4]! >= x[0]!,
      violation: (b) => tf.tidy(() => tf.reshape(tf.relu(tf.sub(tf.slice(b, [0, 0], [-1, 1]), tf.slice(b, [0, 4], [-1, 1]))), [-1]) as tf.Tensor1D),
    },
  ] };
  assert.match(infeasibility(rel, ok)!, /relation size ≥ count does not hold/);
  assert.equal(infeasibility({ ...TYPED, immutable: [4] }, ok, Float32Array.from([0.5, 0, 1, 0, 0.2]))!.startsWith('immutable feature 4'), true);
});

function flowsCsv(): string {
  const dir = mkdtempSync(join(tmpdir(), 'advtrain-domain-'));
  const protos = ['tcp', 'udp', 'icmp'];
  const lines = ['count,proto,size,tos,label'];
  for (let i = 0; i < 60; i++) {
    const count = (i * 7) % 11; // integers 0..10
    const size = ((i * 13) % 17) / 3.7;
    lines.push(`${count},${protos[i % 3]},${size.toFixed(3)},${i % 4},${(count + (i % 3) * 2) % 2 === 0 ? 'benign' : 'attack'}`);
  }
  const p = join(dir, 'flows.csv');
  writeFileSync(p, lines.join('\n') + '\n');
  return p;
}

test('PGD on a CSV with an integer column, a one-hot group and an immutable column returns feasible inputs', async () => {
  await selectBackend('cpu');
  const ds: Dataset = loadCsv(flowsCsv(), { immutable: ['tos'] });
  const d = ds.shape[0]!;
  assert.deepEqual(ds.domain.integers, [{ index: 0, step: 0.1 }, { index: 5, step: 1 / 3 }]);
  assert.deepEqual(ds.domain.oneHot, [{ offset: 1, width: 3, name: 'proto' }]);
  assert.deepEqual(ds.domain.immutable, [5]);
  // A linear model that leans on every feature, so the attack wants to move all of them.
  const w = tf.keep(tf.tensor2d([2, -1.5, 1, 1.2, -0.8, 3], [d, 1]));
  const clf = fromFunction((x) => tf.tidy(() => {
    const z = tf.sub(tf.matMul(x as tf.Tensor2D, w), 0.5);
    return tf.concat([z, tf.neg(z)], 1);
  }), { inputShape: [d], numClasses: 2, domain: ds.domain });
  const x = tf.tensor2d(ds.x, [ds.n, d]);
  const y = tf.tensor1d(ds.y, 'int32');
  for (const spec of ['linf:0.35', 'l2:1.5', 'l1:2']) {
    const threat = parseThreat(spec);
    const before = tf.memory().numTensors;
    const r = await new Pgd({ steps: 20, restarts: 1 }).run(clf, x, y, { threat, seed: 1 });
    const adv = r.xAdv.dataSync();
    for (let k = 0; k < ds.n; k++) {
      const row = adv.subarray(k * d, (k + 1) * d);
      const group = Array.from(row.subarray(1, 4));
      assert.ok(group.every((v) => v === 0 || v === 1) && group.filter((v) => v === 1).length === 1, `${spec} example ${k}: one-hot exact (${group})`);
      const count = row[0]! * 10;
      assert.ok(Math.abs(count - Math.round(count)) < 1e-4, `${spec} example ${k}: count ${count} is a whole number`);
      assert.equal(row[5], ds.x[k * d + 5], `${spec} example ${k}: the immutable column keeps its value`);
    }
    assert.equal(isFeasible(ds.domain, r.xAdv, x), true);
    const dist = threat.distance(r.xAdv, x);
    assert.ok(Math.max(...dist.dataSync()) <= threat.eps * (1 + 1e-5) + 1e-5, `${spec}: inside the ball`);
    const moved = Array.from(dist.dataSync()).filter((v) => v > 0).length;
    assert.ok(moved > ds.n / 2, `${spec}: the attack still moves most examples (${moved})`);
    tf.dispose([r.xAdv, dist]);
    assert.equal(tf.memory().numTensors, before, `${spec}: no tensor leaks`);
  }
  // CW-L2 searches in its box's tanh space; its candidates are repaired into the typed domain.
  const cw = await new CwL2({ binarySteps: 3, steps: 30, c0: 1, lr: 0.05 }).run(clf, x, y, { threat: parseThreat('l2:3') });
  assert.equal(isFeasible(ds.domain, cw.xAdv, x), true, 'CW-L2 results are feasible');
  assert.ok(cw.success.reduce((a, b) => a + b, 0) > 0, 'CW-L2 still finds adversarial examples');
  cw.xAdv.dispose();
  // runAttack re-checks feasibility and reports a success rate above zero.
  const res = await runAttack(clf, ds, new Pgd({ steps: 20 }), { threat: parseThreat('l2:1.5') });
  assert.ok(res.success_rate > 0, String(res.success_rate));
  tf.dispose([x, y, w]);
});

test('attack on a CSV data set: the CLI attacks in the data set’s typed domain, not the model’s box', async () => {
  await selectBackend('cpu');
  const csv = flowsCsv();
  const root = mkdtempSync(join(tmpdir(), 'advtrain-domain-cli-'));
  const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 2, inputShape: [6] })] });
  model.setWeights([tf.tensor2d([[2, -2], [-1.5, 1.5], [1, -1], [1.2, -1.2], [-0.8, 0.8], [3, -3]]), tf.tensor1d([-0.5, 0.5])]);
  const dir = join(root, 'm');
  await saveModel(dir, model, { inputShape: [6], numClasses: 2, domain: { lower: new Array(6).fill(0), upper: new Array(6).fill(1) }, output: 'logits' });
  model.dispose();
  const out = join(root, 'ex');
  const r = spawnSync(process.execPath, [fileURLToPath(new URL('../../bin/advtrain.js', import.meta.url)), 'attack', '--model', dir, '--dataset', csv,
    '--attack', 'pgd', '--threat', 'l2:1.5', '--steps', '20', '--n', '12', '--save-examples', out, '--keep', '12', '--backend', 'cpu'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const adv = readIdx(join(out, 'adversarial-images.idx'));
  const d = 6;
  const kept = adv.dims[0]!;
  assert.ok(kept > 0);
  const domain = loadCsv(csv).domain;
  for (let k = 0; k < kept; k++) {
    const row = Float32Array.from(adv.data.slice(k * d, (k + 1) * d));
    assert.equal(infeasibility(domain, row), undefined, `example ${k}: ${Array.from(row)}`);
  }
});
