import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/engine/backend.js';
import { lpThreat } from '../src/threat/threat-model.js';
import { Apgd, ApgdTargeted, apgdCheckpoints, runTopKTargeted } from '../src/attacks/apgd.js';
import { Pgd } from '../src/attacks/pgd.js';
import type { AttackResult } from '../src/attacks/attack.js';
import { loadDataset } from '../src/data/index.js';
import { batches, subset, toTensors } from '../src/data/batching.js';
import { Rng } from '../src/data/rng.js';
import { buildZooModel } from '../src/model/zoo.js';
import { fromLayersModel } from '../src/model/classifier.js';
import { linearClassifier, W, X, dual, predict, assertFeasible } from './helpers.js';
import { UserError } from '../src/errors.js';

test('APGD checkpoints follow Croce & Hein: p₁ = 0.22, steps shrinking by 0.03 down to 0.06', () => {
  assert.deepEqual(apgdCheckpoints(100), [22, 41, 57, 70, 80, 87, 93, 99]);
  assert.deepEqual(apgdCheckpoints(10), [3, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(apgdCheckpoints(1), [1]);
});

for (const norm of ['linf', 'l2', 'l1'] as const) {
  test(`APGD-CE-${norm} on a linear model succeeds at 1.02× the closed-form minimal ε and fails at 0.98×`, async () => {
    await selectBackend('cpu');
    const { clf, f } = linearClassifier(W, 0);
    const before = tf.memory().numTensors;
    for (let i = 0; i < X.length; i++) {
      const minEps = Math.abs(f(X[i]!)) / dual[norm](W);
      const x = tf.tensor2d([X[i]!]);
      const y = tf.tensor1d([0], 'int32');
      for (const [scale, expect] of [[1.02, 1], [0.98, 0]] as const) {
        const eps = minEps * scale;
        const r = await new Apgd({ steps: 50 }).run(clf, x, y, { threat: lpThreat(norm, eps), seed: i });
        assert.equal(r.success[0], expect, `x${i} ε = ${scale}× min: success ${r.success[0]}`);
        assert.equal(predict(clf, r.xAdv)[0], expect);
        assertFeasible(r, x, norm, eps, { lower: -100, upper: 100 });
        if (expect === 0) assert.equal(r.queries[0], 51, 'a failed example spends every iteration');
        else assert.ok(r.queries[0]! < 51, 'a broken example stops early');
        r.xAdv.dispose();
      }
      tf.dispose([x, y]);
    }
    assert.equal(tf.memory().numTensors, before);
  });
}

test('bad APGD settings are refused with a message naming the field', () => {
  assert.throws(() => new Apgd({ steps: 0 }), UserError);
  assert.throws(() => new Apgd({ rho: 2 }), /rho/);
  assert.throws(() => new Apgd({ loss: 'cw' as 'ce' }), /loss/);
  assert.throws(() => new ApgdTargeted({ targetClasses: 0 }), /targetClasses/);
  assert.equal(new Apgd({ loss: 'dlr' }).name, 'apgd-dlr');
  assert.equal(new Apgd().name, 'apgd-ce');
});

/**
 * A standard mnist-small, 1 epoch of Adam on 4,000 images (wasm), and 200 test images. A plain
 * loop rather than the Trainer keeps this test about the attacks only.
 */
async function quickModel() {
  await selectBackend('wasm');
  const data = await loadDataset('mnist');
  const tr = subset(data.train, 4000);
  const te = subset(data.test, 200);
  const model = buildZooModel('mnist-small', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
  const clf = fromLayersModel(model, { domain: { lower: 0, upper: 1 } });
  const opt = tf.train.adam(2e-3);
  for (const batch of batches(tr, 64, { shuffle: new Rng(0) })) {
    tf.tidy(() => {
      const { xs, ys } = toTensors(batch, [28, 28, 1], 10);
      opt.minimize(() => tf.losses.softmaxCrossEntropy(ys, clf.trainingLogits(xs)) as tf.Scalar);
    });
  }
  opt.dispose();
  const x = tf.tensor(te.x, [te.n, 28, 28, 1]);
  const y = tf.tensor1d(te.y, 'int32');
  return { model, clf, x, y };
}

test('on a quickly trained mnist-small: APGD-CE ≤ PGD + 0.5 pt at the same budget, targeted APGD-DLR hits its targets, seeds repeat', async (t0) => {
  const { model, clf, x, y } = await quickModel();
  const labels = Array.from(y.dataSync());
  const clean = predict(clf, x);
  const acc = clean.filter((p, i) => p === labels[i]).length / labels.length;
  assert.ok(acc > 0.85, `clean accuracy ${acc}`);
  const threat = lpThreat('linf', 0.08);
  const before = tf.memory().numTensors;
  const robust = (r: AttackResult) => labels.filter((_, i) => clean[i] === labels[i] && !r.success[i]).length / labels.length;
  const steps = 20;
  const pgd = await new Pgd({ steps, stepSize: (2.5 * threat.eps) / steps }).run(clf, x, y, { threat, seed: 0 });
  const apgd = await new Apgd({ steps }).run(clf, x, y, { threat, seed: 0 });
  const rp = robust(pgd);
  const ra = robust(apgd);
  assert.ok(rp < acc - 0.05 && rp > 0.02, `PGD robust accuracy ${rp} (clean ${acc}): ε should make the comparison informative`);
  t0.diagnostic(`clean ${acc}, robust accuracy at linf ${threat.eps}, ${steps} steps: PGD ${rp}, APGD-CE ${ra}`);
  assert.ok(ra <= rp + 0.005, `APGD-CE robust accuracy ${ra} vs PGD ${rp}`);
  for (const r of [pgd, apgd]) {
    assertFeasible(r, x, 'linf', threat.eps, { lower: 0, upper: 1 });
    const pred = predict(clf, r.xAdv);
    for (let i = 0; i < labels.length; i++) assert.equal(r.success[i], pred[i] !== labels[i] ? 1 : 0);
  }
  // Same seed, same points.
  const again = await new Apgd({ steps }).run(clf, x, y, { threat, seed: 0 });
  assert.deepEqual(Array.from(again.xAdv.dataSync()), Array.from(apgd.xAdv.dataSync()));
  tf.dispose([pgd.xAdv, apgd.xAdv, again.xAdv]);

  // Targeted APGD-DLR: success means the model predicts the target.
  const n = 60;
  const xs = tf.slice(x, [0, 0, 0, 0], [n, -1, -1, -1]);
  const ys = tf.slice(y, [0], [n]) as tf.Tensor1D;
  const targets = tf.tensor1d(labels.slice(0, n).map((l) => (l + 1) % 10), 'int32');
  const big = lpThreat('linf', 0.2);
  const t = await new Apgd({ steps: 30, loss: 'dlr' }).run(clf, xs, ys, { threat: big, targeted: true, targets, seed: 1 });
  const tp = predict(clf, t.xAdv);
  for (let i = 0; i < n; i++) assert.equal(t.success[i], tp[i] === (labels[i]! + 1) % 10 ? 1 : 0);
  const hits = t.success.reduce((s, v) => s + v, 0);
  t0.diagnostic(`targeted APGD-DLR at linf 0.2: ${hits}/${n} targets reached`);
  assert.ok(hits >= 0.7 * n, `targeted APGD-DLR reached ${hits}/${n} targets`);
  assertFeasible(t, xs, 'linf', big.eps, { lower: 0, upper: 1 });
  // APGD-T over the top-3 classes on the examples APGD-CE (ε = 0.08) did not break: at least as strong as one target.
  const topk = await new ApgdTargeted({ steps: 20, targetClasses: 3 }).run(clf, xs, ys, { threat, seed: 2 });
  const one = await runTopKTargeted(new Apgd({ steps: 20, loss: 'dlr' }), clf, xs, ys, { threat, seed: 2 }, 1);
  const kp = predict(clf, topk.xAdv);
  for (let i = 0; i < n; i++) assert.equal(topk.success[i], kp[i] !== labels[i] ? 1 : 0);
  assert.ok(topk.success.reduce((s, v) => s + v, 0) >= one.success.reduce((s, v) => s + v, 0));
  assertFeasible(topk, xs, 'linf', threat.eps, { lower: 0, upper: 1 });
  tf.dispose([t.xAdv, topk.xAdv, one.xAdv, xs, ys, targets]);
  assert.equal(tf.memory().numTensors, before);

  // L2 on the CNN: budget and domain respected.
  const l2 = lpThreat('l2', 1.5);
  const r2 = await new Apgd({ steps: 10 }).run(clf, x, y, { threat: l2, seed: 3 });
  assertFeasible(r2, x, 'l2', l2.eps, { lower: 0, upper: 1 });
  assert.ok(r2.success.reduce((s, v) => s + v, 0) > 0);
  r2.xAdv.dispose();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, y]);
  model.dispose();
});
