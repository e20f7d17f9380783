import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/engine/backend.js';
import { lpThreat, type ThreatModel } from '../src/threat/threat-model.js';
import { fromFunction, fromLayersModel, type Classifier } from '../src/model/classifier.js';
import type { Attack, AttackResult } from '../src/attacks/attack.js';
import { SquareAttack, squareP } from '../src/attacks/square.js';
import { HopSkipJump } from '../src/attacks/hopskipjump.js';
import { GenAttack } from '../src/attacks/genattack.js';
import { DifferentialEvolution } from '../src/attacks/differential-evolution.js';
import { UNIT_BOX, type Domain } from '../src/data/domain.js';
import { loadDataset, subset } from '../src/data/index.js';
import { buildZooModel } from '../src/model/zoo.js';
import { train } from '../src/training/trainer.js';
import { Rng } from '../src/data/rng.js';
import { UserError } from '../src/errors.js';
import { linearClassifier, W, X, dual, assertFeasible } from './helpers.js';


/** Wraps a classifier and counts the logits rows it evaluates (= queries). */
function counting(clf: Classifier): { clf: Classifier; rows: () => number } {
  let rows = 0;
  return {
    clf: { ...clf, logits: (x) => ((rows += x.shape[0]!), clf.logits(x)) },
    rows: () => rows,
  };
}

const sum = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0);
const median = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)]!;
const linearCases: { name: string; norm: 'linf' | 'l2'; make: (q: number) => Attack }[] = [
  { name: 'Square-Linf', norm: 'linf', make: (q) => new SquareAttack({ maxQueries: q }) },
  { name: 'Square-L2', norm: 'l2', make: (q) => new SquareAttack({ maxQueries: q }) },
  { name: 'HopSkipJump-L2', norm: 'l2', make: (q) => new HopSkipJump({ maxQueries: q }) },
  { name: 'HopSkipJump-Linf', norm: 'linf', make: (q) => new HopSkipJump({ maxQueries: q }) },
];

for (const c of linearCases) {
  test(`${c.name} on a linear model: succeeds at 1.5× the closed-form minimal ε, fails at 0.98×, exact query counts, no leaks`, async () => {
    await selectBackend('cpu');
    const { clf: base, f } = linearClassifier(W, 0, 5);
    const x = tf.tensor2d(X);
    const y = tf.tensor1d([0, 0, 0], 'int32');
    const before = tf.memory().numTensors;
    for (let i = 0; i < X.length; i++) {
      const minEps = Math.abs(f(X[i]!)) / dual[c.norm](W);
      for (const [scale, expect] of [[1.5, 1], [0.98, 0]] as const) {
        const { clf, rows } = counting(base);
        const threat = lpThreat(c.norm, minEps * scale);
        const xi = tf.slice(x, [i, 0], [1, -1]);
        const yi = tf.slice(y, [i], [1]);
        // Below the minimum no point exists, so the whole budget is spent: keep it small there.
        const budget = expect ? 2000 : 500;
        const r = await c.make(budget).run(clf, xi, yi, { threat, seed: 3 });
        assert.equal(r.success[0], expect, `x${i} ε=${scale}×min: success ${r.success[0]} after ${r.queries[0]} queries`);
        assert.equal(sum(r.queries), rows(), 'reported queries = logits rows evaluated');
        assert.ok(r.queries[0]! <= budget, `budget of ${budget} queries kept (${r.queries[0]})`);
        if (!expect && c.name.startsWith('Square')) assert.equal(r.queries[0], budget, 'a failing Square run spends its budget exactly');
        assertFeasible(r, xi, threat.norm, threat.eps, clf.domain, { label: `${c.name} x${i}`, reported: 1e-5 });
        if (expect) {
          const z = tf.tidy(() => tf.argMax(clf.logits(r.xAdv), 1).dataSync()[0]);
          assert.equal(z, 1, 'xAdv is misclassified');
        } else if (c.name.startsWith('HopSkipJump')) {
          assert.equal(r.distance[0], 0, 'a failed HopSkipJump example returns x');
        }
        tf.dispose([r.xAdv, xi, yi]);
      }
    }
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([x, y]);
  });
}

test('Square, HopSkipJump, GenAttack and DE: same seed, same result; a batch stops per example', async () => {
  await selectBackend('cpu');
  const { clf } = linearClassifier(W, 0, 5);
  const x = tf.tensor2d(X);
  const y = tf.tensor1d([0, 0, 0], 'int32');
  const runs: [Attack, ThreatModel][] = [
    [new SquareAttack({ maxQueries: 300 }), lpThreat('l2', 0.5)],
    [new HopSkipJump({ maxQueries: 300, minimize: true }), lpThreat('l2', 50)],
    [new GenAttack({ maxQueries: 300 }), lpThreat('linf', 0.2)],
    [new DifferentialEvolution({ population: 10, iterations: 10 }), lpThreat('l0', 1)],
  ];
  const before = tf.memory().numTensors;
  for (const [atk, threat] of runs) {
    const a = await atk.run(clf, x, y, { threat, seed: 11 });
    const b = await atk.run(clf, x, y, { threat, seed: 11 });
    assert.deepEqual(Array.from(a.xAdv.dataSync()), Array.from(b.xAdv.dataSync()), `${atk.name}: xAdv reproducible`);
    assert.deepEqual(Array.from(a.queries), Array.from(b.queries), `${atk.name}: queries reproducible`);
    assert.deepEqual(Array.from(a.success), Array.from(b.success));
    // Examples at different distances from the boundary need different numbers of queries.
    if (atk.name !== 'hopskipjump') assert.ok(new Set(a.queries).size > 1 || a.success.every((s) => s === 0), `${atk.name}: per-example stop (${a.queries})`);
    tf.dispose([a.xAdv, b.xAdv]);
  }
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, y]);
});

test('budgets and per-feature domains hold over random cases for every black-box attack', async () => {
  await selectBackend('cpu');
  const rng = new Rng(5);
  const d = 6;
  const before = tf.memory().numTensors;
  for (let trial = 0; trial < 4; trial++) {
    const w = Array.from({ length: d * 3 }, () => rng.next() * 2 - 1);
    const wt = tf.tensor2d(w, [d, 3]);
    const lower = Float32Array.from({ length: d }, () => -rng.next());
    const upper = Float32Array.from({ length: d }, () => rng.next());
    const domain: Domain = { lower, upper };
    const clf = fromFunction((xi) => tf.matMul(xi as tf.Tensor2D, wt), { inputShape: [d], numClasses: 3, domain });
    const xs = Float32Array.from({ length: 4 * d }, (_, k) => lower[k % d]! + rng.next() * (upper[k % d]! - lower[k % d]!));
    const x = tf.tensor2d(xs, [4, d]);
    const y = tf.tidy(() => tf.argMax(clf.logits(x), 1)) as tf.Tensor1D;
    const eps = 0.05 + rng.next() * 0.5;
    const cases: [Attack, ThreatModel][] = [
      [new SquareAttack({ maxQueries: 100 }), lpThreat('linf', eps)],
      [new SquareAttack({ maxQueries: 100 }), lpThreat('l2', eps)],
      [new HopSkipJump({ maxQueries: 150, initEvals: 10, minimize: trial % 2 === 0 }), lpThreat('l2', eps)],
      [new HopSkipJump({ maxQueries: 150, initEvals: 10 }), lpThreat('linf', eps)],
      [new GenAttack({ maxQueries: 100 }), lpThreat('linf', eps)],
      [new DifferentialEvolution({ population: 8, iterations: 5 }), lpThreat('l0', 1 + (trial % 3))],
    ];
    for (const [atk, threat] of cases) {
      const { clf: cc, rows } = counting(clf);
      const r = await atk.run(cc, x, y, { threat, seed: trial });
      assertFeasible(r, x, threat.norm, threat.eps, domain, { label: `${atk.name} ${threat} trial ${trial}`, reported: 1e-5 });
      assert.equal(sum(r.queries), rows(), `${atk.name}: queries = rows`);
      // Success flags agree with the model's predictions at xAdv.
      const pred = tf.tidy(() => tf.argMax(clf.logits(r.xAdv), 1).dataSync());
      const ys = y.dataSync();
      for (let i = 0; i < 4; i++) if (r.success[i]) assert.notEqual(pred[i], ys[i], `${atk.name}: a success is misclassified`);
      r.xAdv.dispose();
    }
    tf.dispose([wt, x, y]);
  }
  assert.equal(tf.memory().numTensors, before);
});

test('targeted: Square reaches the target class; HopSkipJump starts from given target-class points', async () => {
  await selectBackend('cpu');
  const w = [1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1];
  const wt = tf.tensor2d(w, [4, 3]);
  const clf = fromFunction((xi) => tf.matMul(xi as tf.Tensor2D, wt), { inputShape: [4], numClasses: 3, domain: { lower: 0, upper: 1 } });
  const x = tf.tensor2d([[0.9, 0.1, 0.1, 0.2], [0.8, 0.3, 0.1, 0.1]]);
  const y = tf.tensor1d([0, 0], 'int32');
  const targets = tf.tensor1d([2, 1], 'int32');
  const before = tf.memory().numTensors;
  const sq = await new SquareAttack({ maxQueries: 500 }).run(clf, x, y, { threat: lpThreat('linf', 0.5), targeted: true, targets, seed: 0 });
  assert.deepEqual(Array.from(sq.success), [1, 1]);
  assert.deepEqual(Array.from(tf.tidy(() => tf.argMax(clf.logits(sq.xAdv), 1).dataSync())), [2, 1]);
  const start = tf.tensor2d([[0, 0, 1, 0], [0, 1, 0, 0]]);
  const hsj = await new HopSkipJump({ maxQueries: 800, minimize: true }).run(clf, x, y, {
    threat: lpThreat('l2', 10), targeted: true, targets, seed: 0, startingPoints: start,
  });
  assert.deepEqual(Array.from(hsj.success), [1, 1]);
  assert.deepEqual(Array.from(tf.tidy(() => tf.argMax(clf.logits(hsj.xAdv), 1).dataSync())), [2, 1]);
  // The distance to the start point shrank towards the boundary (start points are ~1.3 away).
  for (let i = 0; i < 2; i++) assert.ok(hsj.distance[i]! < 0.9, `HSJ targeted distance ${hsj.distance[i]}`);
  tf.dispose([sq.xAdv, hsj.xAdv, start]);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([wt, x, y, targets]);
});

test('bad settings are UserErrors naming the field', async () => {
  await selectBackend('cpu');
  assert.throws(() => new SquareAttack({ maxQueries: 0 }), (e: unknown) => e instanceof UserError && /maxQueries/.test(e.message));
  assert.throws(() => new SquareAttack({ pInit: 1.5 }), (e: unknown) => e instanceof UserError && /p_init/.test(e.message));
  assert.throws(() => new GenAttack({ population: 1 }), (e: unknown) => e instanceof UserError && /population/.test(e.message));
  assert.throws(() => new DifferentialEvolution({ population: 3 }), (e: unknown) => e instanceof UserError && /population/.test(e.message));
  assert.throws(() => new HopSkipJump({ initEvals: 0 }), (e: unknown) => e instanceof UserError && /initEvals/.test(e.message));
  const { clf } = linearClassifier(W, 0, 5);
  const x = tf.tensor2d([X[0]!]);
  const y = tf.tensor1d([0], 'int32');
  await assert.rejects(new SquareAttack().run(clf, x, y, { threat: lpThreat('l1', 1) }), /attack square does not support the threat l1:1: it supports linf:EPS or l2:EPS/);
  await assert.rejects(new DifferentialEvolution().run(clf, x, y, { threat: lpThreat('linf', 1) }), /attack de does not support the threat linf:1: it supports l0:EPS/);
  await assert.rejects(new GenAttack().run(clf, x, y, { threat: lpThreat('l2', 1) }), /attack genattack does not support the threat l2:1: it supports linf:EPS/);
  await assert.rejects(new HopSkipJump().run(clf, x, y, { threat: lpThreat('l0', 1) }), /attack hopskipjump does not support the threat l0:1: it supports l2:EPS or linf:EPS/);
  await assert.rejects(new SquareAttack().run(clf, x, y, { threat: lpThreat('linf', 1), targeted: true }), /target/);
  tf.dispose([x, y]);
  assert.equal(squareP(0.8, 0, 10000), 0.8);
  assert.equal(squareP(0.8, 11, 10000), 0.4);
  assert.equal(squareP(0.8, 100, 1000), 0.8 / 16); // 100/1000 of the run = iteration 1000 of 10,000: the (500, 1000] stage
  assert.equal(squareP(0.8, 9999, 10000), 0.8 / 512);
});

test('mnist-small (1 epoch on 4000 images, wasm): Square breaks most, GenAttack and DE some, HSJ shrinks with queries', async () => {
  await selectBackend('wasm');
  const { train: tr, test: te } = await loadDataset('mnist');
  const clf = fromLayersModel(buildZooModel('mnist-small', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 }), { domain: UNIT_BOX });
  await train(clf, subset(tr, 4000), undefined, { epochs: 1, batchSize: 64, optimizer: 'adam', schedule: { kind: 'cyclic', lr: 4e-3, peakAt: 0.4 }, seed: 0 });
  const pool = subset(te, 60);
  const all = tf.tensor(pool.x, [pool.n, 28, 28, 1]);
  const pred = tf.tidy(() => tf.argMax(clf.logits(all), 1).dataSync());
  const ok: number[] = [];
  for (let i = 0; i < pool.n && ok.length < 24; i++) if (pred[i] === pool.y[i]) ok.push(i);
  assert.ok(ok.length >= 20, `the quick model classifies enough test images (${ok.length})`);
  const x = tf.tidy(() => tf.gather(all, ok));
  const y = tf.tensor1d(ok.map((i) => pool.y[i]!), 'int32');
  const n = ok.length;
  const before = tf.memory().numTensors;
  const rate = (r: AttackResult) => sum(r.success) / n;

  const linf = lpThreat('linf', 0.3);
  const sq = await new SquareAttack({ maxQueries: 300 }).run(clf, x, y, { threat: linf, seed: 0 });
  assert.ok(rate(sq) >= 0.8, `Square Linf 0.3 success ${rate(sq)}`);
  assertFeasible(sq, x, linf.norm, linf.eps, UNIT_BOX, { label: 'square', reported: 1e-5 });

  const gen = await new GenAttack({ maxQueries: 300 }).run(clf, x, y, { threat: linf, seed: 0 });
  assert.ok(rate(gen) > 0, `GenAttack success ${rate(gen)}`);
  assertFeasible(gen, x, linf.norm, linf.eps, UNIT_BOX, { label: 'genattack', reported: 1e-5 });

  // A conv net shrugs off a few random pixels; 40 of 784 optimised by DE/rand/1 break some images.
  const l0 = lpThreat('l0', 40);
  const de = await new DifferentialEvolution({ population: 20, iterations: 25 }).run(clf, x, y, { threat: l0, seed: 0 });
  assert.ok(rate(de) > 0, `DE l0:40 success ${rate(de)}`);
  assert.ok(Math.max(...de.queries) <= 20 * 26);
  assertFeasible(de, x, l0.norm, l0.eps, UNIT_BOX, { label: 'de', reported: 1e-5 });

  const few = tf.tidy(() => tf.slice(x, 0, 12));
  const yf = tf.tidy(() => tf.slice(y, 0, 12));
  const big = lpThreat('l2', 100);
  const short = await new HopSkipJump({ maxQueries: 150, minimize: true }).run(clf, few, yf, { threat: big, seed: 0 });
  const long = await new HopSkipJump({ maxQueries: 600, minimize: true }).run(clf, few, yf, { threat: big, seed: 0 });
  assert.equal(sum(long.success), 12, 'HSJ finds a misclassified point for every image');
  const pl = tf.tidy(() => tf.argMax(clf.logits(long.xAdv), 1).dataSync());
  const yl = yf.dataSync();
  for (let i = 0; i < 12; i++) assert.notEqual(pl[i], yl[i]);
  assert.ok(median(Array.from(long.distance)) < 0.9 * median(Array.from(short.distance)), `HSJ median L2 ${median(Array.from(short.distance))} → ${median(Array.from(long.distance))}`);
  assert.ok(Math.max(...long.queries) <= 600);

  tf.dispose([sq.xAdv, gen.xAdv, de.xAdv, short.xAdv, long.xAdv, few, yf]);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, y, all]);
  clf.model.dispose();
});
