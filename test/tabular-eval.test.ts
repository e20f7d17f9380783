import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/engine/backend.js';
import { infeasibility } from '../src/data/domain.js';
import { parseThreat } from '../src/threat/threat-model.js';
import { evaluate } from '../src/eval/evaluate.js';
import { validateEvalResult } from '../src/eval/validate-result.js';
import { renderReport } from '../src/report/html.js';
import { makeStrategy } from '../src/training/strategies/index.js';
import type { LayersClassifier } from '../src/model/classifier.js';
import { D, TABULAR, tabularDataset, tabularModel } from './tabular-fixture.js';

test('eval --preset tabular: CAPGD then MOEVA per-example worst case, validity per attack, per-class detection, features changed; JSON valid, report shows them', async () => {
  await selectBackend('cpu');
  const clf = tabularModel(11);
  const ds = tabularDataset(clf, 50, 3);
  const before = tf.memory().numTensors;
  const r = await evaluate(clf, ds, { threat: parseThreat('l2:0.8'), preset: 'tabular', checks: false, seed: 0 });
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(r.attacks.map((a) => a.name), ['capgd', 'moeva']);
  for (const a of r.attacks) assert.equal(a.validity_rate, 1, a.name);
  assert.ok(r.robust_accuracy < r.clean_accuracy, 'the ensemble breaks some records');
  assert.equal(r.tabular!.validity_rate, 1);
  assert.ok(r.tabular!.features_changed.median! >= 1);
  assert.equal(r.per_class!.reduce((s, c) => s + c.n, 0), ds.n);
  const back = validateEvalResult(JSON.parse(JSON.stringify(r)));
  assert.equal(back.preset, 'tabular');
  const html = await renderReport(r);
  assert.match(html, /detection rate of each class/);
  assert.match(html, /Features changed per adversarial record/);
});

test('capgd-at and moeva-aug: the adversarial share of a batch is valid and inside the ball, the rest stays clean, no leaks', async () => {
  await selectBackend('cpu');
  const clf = tabularModel(11) as unknown as LayersClassifier;
  const ds = tabularDataset(clf, 20, 3);
  const threat = parseThreat('l2:0.8');
  for (const method of ['capgd-at', 'moeva-aug']) {
    const s = makeStrategy(method, { eps: 0.8, attackSteps: 5, advRatio: 0.5 });
    const xs = tf.tensor2d(ds.x, [ds.n, D]);
    const labels = tf.tensor1d(ds.y, 'int32');
    const ys = tf.oneHot(labels, 3) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    const out = s.prepare!(clf, { xs, labels, ys, epoch: 0, seed: 3, threat });
    assert.equal(tf.memory().numTensors, before + 1, `${method}: only the result is new`);
    const a = out!.dataSync();
    let moved = 0;
    for (let i = 0; i < ds.n; i++) {
      const row = a.subarray(i * D, (i + 1) * D) as Float32Array;
      const clean = ds.x.subarray(i * D, (i + 1) * D);
      assert.equal(infeasibility(TABULAR, row, clean), undefined, `${method} row ${i}`);
      const dist = Math.hypot(...Array.from(row, (v, j) => v - clean[j]!));
      assert.ok(dist <= 0.8 + 1e-5);
      if (i >= 10) assert.equal(dist, 0, `${method}: clean half untouched`);
      else if (dist > 0) moved++;
    }
    assert.ok(moved > 0, `${method} moved no record`);
    tf.dispose([out!, xs, labels, ys]);
  }
});
