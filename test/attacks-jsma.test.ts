import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/engine/backend.js';
import { fromFunction, fromLayersModel } from '../src/model/classifier.js';
import { lpThreat } from '../src/threat/threat-model.js';
import { Jsma } from '../src/attacks/jsma.js';
import { loadDataset } from '../src/data/index.js';
import { subset } from '../src/data/batching.js';
import { buildZooModel } from '../src/model/zoo.js';
import { train } from '../src/training/trainer.js';
import { Rng } from '../src/data/rng.js';
import { UserError } from '../src/errors.js';

const UNIT = { lower: 0, upper: 1 };

/** A linear model z = W·x + b ([k, d] weights, row-major). */
function linearModel(w: number[][], b: number[]) {
  const k = w.length;
  const d = w[0]!.length;
  const wt = tf.keep(tf.transpose(tf.tensor2d(w)));
  const bt = tf.keep(tf.tensor1d(b));
  return fromFunction((x) => tf.tidy(() => tf.add(tf.matMul(tf.reshape(x, [x.shape[0]!, d]), wt), bt)), { inputShape: [d], numClasses: k, domain: UNIT });
}

function randomMatrix(rng: Rng, r: number, c: number, scale = 1): number[][] {
  return Array.from({ length: r }, () => Array.from({ length: c }, () => (rng.next() * 2 - 1) * scale));
}

test('JSMA on a linear model: the first pair is the brute-force argmax of α·|β|, the target is reached, budget and domain hold', async () => {
  await selectBackend('cpu');
  const rng = new Rng(11);
  const d = 16;
  const W = randomMatrix(rng, 3, d);
  // Give each target class a few strong features, so that it is reachable within the budget.
  for (let i = 0; i < 3; i++) [W[2]![i], W[1]![i + 3]] = [3, 3];
  const clf = linearModel(W, [4, 0, 0]);
  const X = Array.from({ length: 4 }, () => Array.from({ length: d }, () => Math.fround(rng.next() * 0.3)));
  const x = tf.tensor2d(X);
  const y = tf.tidy(() => tf.argMax(clf.logits(x), 1)) as tf.Tensor1D;
  assert.deepEqual(Array.from(y.dataSync()), [0, 0, 0, 0], 'the bias puts every point in class 0');
  const targets = tf.tensor1d([2, 2, 1, 1], 'int32');
  const before = tf.memory().numTensors;

  // One step (budget 2) with the full pair search: the changed pair must be the brute-force optimum.
  const one = await new Jsma({ pairCandidates: d, gamma: 1 }).run(clf, x, y, { threat: lpThreat('l0', 2), targeted: true, targets });
  const adv1 = one.xAdv.arraySync() as number[][];
  const t = targets.arraySync() as number[];
  for (let e = 0; e < X.length; e++) {
    const alpha = W[t[e]!]!;
    const beta = alpha.map((_, i) => W.reduce((s, row, j) => s + (j === t[e] ? 0 : row[i]!), 0));
    let best = -1;
    let pair = [-1, -1];
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) {
      const a = alpha[p]! + alpha[q]!;
      const b = beta[p]! + beta[q]!;
      if (a > 0 && b < 0 && a * -b > best) [best, pair] = [a * -b, [p, q]];
    }
    const changed = adv1[e]!.map((v, i) => (v !== X[e]![i] ? i : -1)).filter((i) => i >= 0);
    assert.deepEqual(changed, pair, `example ${e}`);
    changed.forEach((i) => assert.equal(adv1[e]![i], 1, 'θ = +1 raises the feature to the upper bound'));
  }

  // A full run: every example reaches its target within 8 changed features.
  const r = await new Jsma({ gamma: 1 }).run(clf, x, y, { threat: lpThreat('l0', 8), targeted: true, targets });
  assert.deepEqual(Array.from(r.success), [1, 1, 1, 1]);
  const pred = tf.tidy(() => tf.argMax(clf.logits(r.xAdv), 1).arraySync());
  assert.deepEqual(pred, t, `success ${r.success} distance ${r.distance}`);
  const adv = r.xAdv.arraySync() as number[][];
  for (let e = 0; e < X.length; e++) {
    const changed = adv[e]!.filter((v, i) => v !== X[e]![i]).length;
    assert.equal(r.distance[e], changed);
    assert.ok(changed <= 8 && changed % 2 === 0);
    adv[e]!.forEach((v, i) => assert.ok(v >= X[e]![i]! && v <= 1));
    assert.equal(r.queries[e], 2 * (changed / 2 + 1), 'two queries (α and the logit sum) per step, including the final check');
  }
  tf.dispose([one.xAdv, r.xAdv]);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, y, targets]);
});

test('JSMA on a tiny MLP: targeted and untargeted, the l0 budget and γ both cap the changes, θ = −1 lowers features', async () => {
  await selectBackend('cpu');
  const rng = new Rng(5);
  const d = 40;
  const k = 5;
  const w1 = tf.keep(tf.tensor2d(randomMatrix(rng, d, 24, 0.6)));
  const w2 = tf.keep(tf.tensor2d(randomMatrix(rng, 24, k, 0.6)));
  const clf = fromFunction((x) => tf.tidy(() => tf.matMul(tf.relu(tf.matMul(tf.reshape(x, [x.shape[0]!, d]), w1)), w2)), { inputShape: [d], numClasses: k, domain: UNIT });
  const x = tf.tidy(() => tf.mul(tf.randomUniform([12, d], 0, 1, 'float32', 3), 0.6));
  const y = tf.tidy(() => tf.argMax(clf.logits(x), 1)) as tf.Tensor1D;
  const targets = tf.tidy(() => tf.mod(tf.add(y, tf.scalar(1, 'int32')), tf.scalar(k, 'int32'))) as tf.Tensor1D;
  const before = tf.memory().numTensors;
  const xs = x.arraySync() as number[][];

  const check = (adv: number[][], dist: Float32Array, cap: number, up: boolean) => {
    for (let e = 0; e < adv.length; e++) {
      const changed = adv[e]!.filter((v, i) => v !== xs[e]![i]).length;
      assert.equal(dist[e], changed);
      assert.ok(changed <= cap, `${changed} ≤ ${cap}`);
      adv[e]!.forEach((v, i) => assert.ok(up ? v >= xs[e]![i]! && v <= 1 : v <= xs[e]![i]! && v >= 0));
    }
  };
  const tg = await new Jsma({ gamma: 0.5 }).run(clf, x, y, { threat: lpThreat('l0', 12), targeted: true, targets });
  check(tg.xAdv.arraySync() as number[][], tg.distance, 12, true);
  const rate = (s: Uint8Array) => s.reduce((a, v) => a + v, 0) / s.length;
  assert.ok(rate(tg.success) >= 0.75, `targeted success ${rate(tg.success)}`);
  const predT = tf.tidy(() => tf.argMax(clf.logits(tg.xAdv), 1).arraySync()) as number[];
  const tArr = targets.arraySync() as number[];
  tg.success.forEach((s, e) => assert.equal(s, predT[e] === tArr[e] ? 1 : 0));

  const un = await new Jsma({ gamma: 0.5 }).run(clf, x, y, { threat: lpThreat('l0', 12) });
  check(un.xAdv.arraySync() as number[][], un.distance, 12, true);
  assert.ok(rate(un.success) >= rate(tg.success), 'untargeted (runner-up target, any error counts) succeeds at least as often');

  // γ = 0.1 of 40 features = 4 changes at most, below the l0 budget of 12.
  const capped = await new Jsma({ gamma: 0.1 }).run(clf, x, y, { threat: lpThreat('l0', 12), targeted: true, targets });
  check(capped.xAdv.arraySync() as number[][], capped.distance, 4, true);

  const down = await new Jsma({ theta: -1, gamma: 0.5 }).run(clf, x, y, { threat: lpThreat('l0', 12), targeted: true, targets });
  check(down.xAdv.arraySync() as number[][], down.distance, 12, false);

  // Deterministic: the same call gives the same numbers.
  const again = await new Jsma({ gamma: 0.5 }).run(clf, x, y, { threat: lpThreat('l0', 12), targeted: true, targets });
  assert.deepEqual(again.xAdv.arraySync(), tg.xAdv.arraySync());
  assert.deepEqual(Array.from(again.queries), Array.from(tg.queries));
  tf.dispose([tg.xAdv, un.xAdv, capped.xAdv, down.xAdv, again.xAdv]);
  assert.equal(tf.memory().numTensors, before);

  await assert.rejects(new Jsma().run(clf, x, y, { threat: lpThreat('linf', 0.3) }), /attack jsma does not support the threat linf:0.3: it supports l0:EPS/);
  assert.throws(() => new Jsma({ gamma: 0 }), UserError);
  assert.throws(() => new Jsma({ theta: 0 }), /theta/);
  assert.throws(() => new Jsma({ pairCandidates: 1 }), /pairCandidates/);
  tf.dispose([x, y, targets]);
});

test('JSMA on a quickly trained mnist-small reaches the target on most of 20 digits with < 15% of the pixels changed', async () => {
  await selectBackend('wasm');
  const data = await loadDataset('mnist');
  const model = buildZooModel('mnist-small', { inputShape: [28, 28, 1], numClasses: 10, seed: 2 });
  const clf = fromLayersModel(model, { domain: UNIT });
  await train(clf, subset(data.train, 4000), undefined, {
    epochs: 2, batchSize: 64, optimizer: 'adam', schedule: { kind: 'cyclic', lr: 4e-3, peakAt: 0.4 }, seed: 1,
  });
  const te = subset(data.test, 40);
  const xAll = tf.tensor4d(te.x, [te.n, 28, 28, 1]);
  const yAll = tf.tensor1d(te.y, 'int32');
  // 20 correctly classified digits, each aimed at (label + 1) mod 10.
  const pred = tf.tidy(() => tf.argMax(clf.logits(xAll), 1).dataSync());
  const keep = Array.from(te.y).map((v, i) => (pred[i] === v ? i : -1)).filter((i) => i >= 0).slice(0, 20);
  assert.equal(keep.length, 20);
  const [x, y] = tf.tidy(() => {
    const ix = tf.tensor1d(keep, 'int32');
    return [tf.gather(xAll, ix), tf.gather(yAll, ix)];
  }) as [tf.Tensor4D, tf.Tensor1D];
  const targets = tf.tidy(() => tf.mod(tf.add(y, tf.scalar(1, 'int32')), tf.scalar(10, 'int32'))) as tf.Tensor1D;
  const before = tf.memory().numTensors;
  const budget = Math.floor(0.15 * 784);
  const r = await new Jsma({ gamma: 0.15 }).run(clf, x, y, { threat: lpThreat('l0', budget), targeted: true, targets });
  const succ = r.success.reduce((a, v) => a + v, 0);
  const fracs = Array.from(r.distance).filter((_, i) => r.success[i]).map((v) => v / 784);
  const mean = fracs.reduce((a, v) => a + v, 0) / Math.max(1, fracs.length);
  assert.ok(succ >= 16, `JSMA reached the target on ${succ}/20`);
  assert.ok(mean < 0.1, `mean fraction of changed pixels ${mean.toFixed(3)}`);
  const predAdv = tf.tidy(() => tf.argMax(clf.logits(r.xAdv), 1).arraySync()) as number[];
  const tArr = targets.arraySync() as number[];
  r.success.forEach((s, i) => assert.equal(s, predAdv[i] === tArr[i] ? 1 : 0));
  assert.ok(Math.max(...r.distance) <= budget);
  const lo = tf.tidy(() => tf.min(r.xAdv).dataSync()[0]!);
  const hi = tf.tidy(() => tf.max(r.xAdv).dataSync()[0]!);
  assert.ok(lo >= 0 && hi <= 1);
  r.xAdv.dispose();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([xAll, yAll, x, y, targets]);
  model.dispose();
});
