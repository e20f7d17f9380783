import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/engine/backend.js';
import { fromFunction, type Classifier } from '../src/model/classifier.js';
import { lpThreat } from '../src/threat/threat-model.js';
import { DeepFool } from '../src/attacks/deepfool.js';
import { Fab, projectBoxHyperplane } from '../src/attacks/fab.js';
import { CwL2 } from '../src/attacks/cw-l2.js';
import { runTopKTargeted } from '../src/attacks/apgd.js';
import { linearClassifier, norms, W, dual, predict, assertFeasible } from './helpers.js';
import { UserError } from '../src/errors.js';

// Class-0 points (f > 0) whose minimal perturbations stay well inside the box [-1, 1]: the closed form holds.
const X = [
  [0.1, 0, 0.1, 0, 0, 0, 0, 0, 0, 0],
  [0.2, -0.1, 0.1, 0.3, 0.2, 0.1, -0.2, 0.3, 0, 0.1],
  [0.3, -0.2, 0.1, 0, -0.3, 0.2, 0, 0, 0.2, 0.1],
  [-0.2, -0.3, 0.05, 0.1, 0.1, -0.1, 0.3, 0.2, -0.1, 0.1],
];
test('projectBoxHyperplane is the exact minimal-norm point of a box-constrained hyperplane', () => {
  const out = new Float64Array(3);
  // L2 without a binding box: c·w/‖w‖².
  let n = projectBoxHyperplane('l2', [1, 2, 2], 9, [-9, -9, -9], [9, 9, 9], out);
  assert.deepEqual(Array.from(out).map((v) => +v.toFixed(9)), [1, 2, 2]);
  assert.ok(Math.abs(n - 3) < 1e-9);
  // L2 with the box binding coordinate 1 (room 1): the others take up the rest.
  n = projectBoxHyperplane('l2', [1, 2, 2], 9, [-9, -9, -9], [9, 1, 9], out);
  assert.ok(Math.abs(out[1]! - 1) < 1e-12 && Math.abs(out[0]! * 1 + 2 + out[2]! * 2 - 9) < 1e-9 && Math.abs(out[2]! - 2 * out[0]!) < 1e-9);
  // Linf: equal magnitudes t = |c|/‖w‖₁, signs of w (and of c).
  n = projectBoxHyperplane('linf', [1, -2, 1], -2, [-9, -9, -9], [9, 9, 9], out);
  assert.deepEqual(Array.from(out), [-0.5, 0.5, -0.5]);
  assert.equal(n, 0.5);
  // L1: all on the coordinate of largest |w|, spilling over when its room runs out.
  n = projectBoxHyperplane('l1', [1, -4, 2], 6, [-9, -1, -9], [9, 9, 9], out);
  assert.deepEqual(Array.from(out), [0, -1, 1]);
  assert.equal(n, 2);
  // Infeasible: the vertex that gets closest.
  projectBoxHyperplane('l2', [1, 1, 0], 10, [-1, -1, -1], [1, 1, 1], out);
  assert.deepEqual(Array.from(out), [1, 1, 0]);
});

/**
 * An independent oracle for the projection: for L2 and Linf, bisection on λ of the increasing
 * g(λ) = Σ|w_j|·min(λ·v_j, room_j); for L1, the coordinates by decreasing |w_j| (ties by index).
 */
function projectionOracle(norm: 'l2' | 'linf' | 'l1', w: number[], c: number, lo: number[], hi: number[]): number[] {
  const s = Math.sign(c);
  const dir = w.map((wj) => Math.sign(wj) * s);
  const room = w.map((wj, j) => (wj === 0 ? 0 : dir[j]! > 0 ? Math.max(hi[j]!, 0) : Math.max(-lo[j]!, 0)));
  const need = Math.abs(c);
  if (norm === 'l1') {
    const order = w.map((_, j) => j).sort((i, j) => Math.abs(w[j]!) - Math.abs(w[i]!) || i - j);
    const out = w.map(() => 0);
    let rest = need;
    for (const j of order) {
      if (rest <= 0 || room[j]! <= 0) continue;
      const take = Math.min(room[j]!, rest / Math.abs(w[j]!));
      out[j] = dir[j]! * take;
      rest -= Math.abs(w[j]!) * take;
    }
    return out;
  }
  const v = (j: number) => (norm === 'l2' ? Math.abs(w[j]!) : 1);
  const at = (lam: number) => w.map((_, j) => dir[j]! * Math.min(lam * v(j), room[j]!));
  const g = (lam: number) => at(lam).reduce((acc, dj, j) => acc + Math.abs(w[j]!) * Math.abs(dj), 0);
  let a = 0;
  let b = 1;
  while (g(b) < need && b < 1e12) b *= 2;
  for (let i = 0; i < 200; i++) {
    const m = (a + b) / 2;
    if (g(m) < need) a = m;
    else b = m;
  }
  return at(b);
}

test('projectBoxHyperplane (selection, no sort) equals an independent bisection / greedy oracle on random boxes and hyperplanes', () => {
  let state = 12345;
  const rand = () => ((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (const norm of ['l2', 'linf', 'l1'] as const) {
    for (let trial = 0; trial < 200; trial++) {
      const d = 1 + Math.floor(rand() * 60);
      // Repeated |w| values and zero rooms exercise the ties and the skipped coordinates.
      const w = Array.from({ length: d }, () => (rand() < 0.1 ? 0 : (rand() < 0.5 ? -1 : 1) * (rand() < 0.3 ? 0.5 : rand())));
      const lo = Array.from({ length: d }, () => (rand() < 0.1 ? 0 : -rand()));
      const hi = Array.from({ length: d }, () => (rand() < 0.1 ? 0 : rand()));
      const c = (rand() - 0.5) * (rand() < 0.2 ? 40 : 2);
      const out = new Float64Array(d);
      projectBoxHyperplane(norm, w, c, lo, hi, out);
      const want = projectionOracle(norm, w, c, lo, hi);
      for (let j = 0; j < d; j++) assert.ok(Math.abs(out[j]! - want[j]!) < 1e-7, `${norm} trial ${trial} coordinate ${j}: ${out[j]} vs ${want[j]}`);
    }
  }
});

for (const norm of ['l2', 'linf', 'l1'] as const) {
  test(`FAB-${norm} and DeepFool-${norm} find the closed-form minimal distance |f(x)|/‖w‖ on a linear model within 1%`, async () => {
    await selectBackend('cpu');
    const { clf, f } = linearClassifier(W, 0, 1);
    const x = tf.tensor2d(X);
    const y = tf.tensor1d(X.map(() => 0), 'int32');
    const exact = X.map((xi) => Math.abs(f(xi)) / dual[norm](W));
    const before = tf.memory().numTensors;
    const threat = lpThreat(norm, 10);
    const fab = await new Fab({ steps: 50 }).run(clf, x, y, { threat, seed: 0 });
    // DeepFool on a linear model lands exactly at (1 + overshoot) × the minimum; bisection refines it.
    const df = await new DeepFool().run(clf, x, y, { threat });
    const dfr = await new DeepFool({ refineSteps: 10 }).run(clf, x, y, { threat });
    for (let i = 0; i < X.length; i++) {
      assert.equal(fab.success[i], 1);
      assert.ok(fab.minDistance[i]! >= exact[i]! * (1 - 1e-4) && fab.minDistance[i]! <= exact[i]! * 1.01, `FAB x${i}: ${fab.minDistance[i]} vs ${exact[i]}`);
      if (norm !== 'l1') {
        assert.equal(df.success[i], 1);
        assert.ok(Math.abs(df.minDistance[i]! / (exact[i]! * 1.02) - 1) < 1e-3, `DeepFool x${i}: ${df.minDistance[i]} vs 1.02 × ${exact[i]}`);
      }
      assert.equal(dfr.success[i], 1);
      assert.ok(dfr.minDistance[i]! >= exact[i]! * (1 - 1e-4) && dfr.minDistance[i]! <= exact[i]! * 1.01, `DeepFool+refine x${i}: ${dfr.minDistance[i]} vs ${exact[i]}`);
    }
    for (const r of [fab, df, dfr]) {
      assertFeasible(r, x, norm, 10, { lower: -1, upper: 1 }, { reported: 1e-4 });
      r.xAdv.dispose();
    }
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([x, y]);
  });
}

test('CW-L2 finds the closed-form minimal L2 distance on a linear model within 5%, and a targeted run hits its target', async () => {
  await selectBackend('cpu');
  const { clf, f } = linearClassifier(W, 0, 1);
  const x = tf.tensor2d(X);
  const y = tf.tensor1d(X.map(() => 0), 'int32');
  const before = tf.memory().numTensors;
  const r = await new CwL2({ binarySteps: 6, steps: 200, c0: 1, lr: 0.01 }).run(clf, x, y, { threat: lpThreat('l2', 10) });
  for (let i = 0; i < X.length; i++) {
    const exact = Math.abs(f(X[i]!)) / norms.l2(W);
    assert.equal(r.success[i], 1);
    assert.ok(r.minDistance[i]! >= exact * (1 - 1e-4) && r.minDistance[i]! <= exact * 1.05, `CW x${i}: ${r.minDistance[i]} vs ${exact}`);
  }
  assertFeasible(r, x, 'l2', 10, { lower: -1, upper: 1 }, { reported: 1e-4 });
  r.xAdv.dispose();
  const targets = tf.tensor1d(X.map(() => 1), 'int32');
  const t = await new CwL2({ binarySteps: 3, steps: 100, c0: 1, lr: 0.01 }).run(clf, x, y, { threat: lpThreat('l2', 10), targeted: true, targets });
  assert.deepEqual(predict(clf, t.xAdv), Array.from(t.success).map((s) => (s ? 1 : 0)));
  assert.ok(t.success.every((s) => s === 1));
  tf.dispose([t.xAdv, targets]);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, y]);
});

test('with a budget, minimal-norm attacks succeed just above the minimum and fail just below it, staying inside the ball', async () => {
  await selectBackend('cpu');
  const { clf, f } = linearClassifier(W, 0, 1);
  for (const norm of ['l2', 'linf'] as const) {
    for (let i = 0; i < X.length; i++) {
      const exact = Math.abs(f(X[i]!)) / dual[norm](W);
      const x = tf.tensor2d([X[i]!]);
      const y = tf.tensor1d([0], 'int32');
      for (const [scale, expect] of [[1.03, 1], [0.98, 0]] as const) {
        const eps = exact * scale;
        const threat = lpThreat(norm, eps);
        const attacks = [new Fab({ steps: 30 }), new DeepFool({ refineSteps: 10 }), ...(norm === 'l2' ? [new CwL2({ binarySteps: 6, steps: 200, c0: 1, lr: 0.01 })] : [])];
        for (const a of attacks) {
          const r = await a.run(clf, x, y, { threat, seed: 1 });
          assert.equal(r.success[0], expect, `${a.name} ${norm} x${i} at ${scale}× min: success ${r.success[0]}`);
          assertFeasible(r, x, norm, eps, { lower: -1, upper: 1 }, { reported: 1e-4 });
          // The distance found is reported even when it exceeds the budget.
          assert.ok(r.minDistance[0]! >= exact * (1 - 1e-4) && r.minDistance[0]! <= exact * 1.05);
          r.xAdv.dispose();
        }
      }
      tf.dispose([x, y]);
    }
  }
});

/** A fixed random 2-layer ReLU network 8 → 16 → 4 on the box [0, 1]^8, with its weights. */
function randomMlp(seed: number): { clf: Classifier; w1: number[][]; w2: number[][]; dispose: () => void } {
  const w1 = tf.keep(tf.randomNormal([8, 16], 0, 0.7, 'float32', seed));
  const b1 = tf.keep(tf.randomNormal([16], 0, 0.1, 'float32', seed + 1));
  const w2 = tf.keep(tf.randomNormal([16, 4], 0, 0.7, 'float32', seed + 2));
  const clf = fromFunction((x) => tf.tidy(() => tf.matMul(tf.relu(tf.add(tf.matMul(x as tf.Tensor2D, w1), b1)), w2)), {
    inputShape: [8],
    numClasses: 4,
    domain: { lower: 0, upper: 1 },
  });
  return { clf, w1: w1.arraySync() as number[][], w2: w2.arraySync() as number[][], dispose: () => tf.dispose([w1, b1, w2]) };
}

test('on a random ReLU network: points are really adversarial, no distance beats the Lipschitz lower bound, and FAB ≤ DeepFool', async () => {
  await selectBackend('cpu');
  const net = randomMlp(3);
  const n = 40;
  const x = tf.randomUniform([n, 8], 0, 1, 'float32', 5);
  const y = tf.tidy(() => tf.cast(tf.argMax(net.clf.logits(x), 1), 'int32')) as tf.Tensor1D;
  const threat = lpThreat('l2', 100);
  const before = tf.memory().numTensors;
  const fab = await new Fab({ steps: 100, restarts: 2 }).run(net.clf, x, y, { threat, seed: 0 });
  const df = await new DeepFool().run(net.clf, x, y, { threat });
  const cw = await new CwL2({ binarySteps: 6, steps: 150, c0: 1, lr: 0.01 }).run(net.clf, x, y, { threat });
  assert.equal(tf.memory().numTensors, before + 3, 'only the three results are alive');
  // Lipschitz bound in L2: |Δ(f_k − f_y)| ≤ ‖w2_k − w2_y‖₂ · ‖W1‖_F · ‖δ‖₂ (ReLU is 1-Lipschitz; Frobenius ≥ spectral norm).
  const fro = Math.sqrt(net.w1.flat().reduce((s, v) => s + v * v, 0));
  const z = net.clf.logits(x);
  const logits = z.arraySync() as number[][];
  z.dispose();
  const labels = y.arraySync() as number[];
  let fabSum = 0;
  let dfSum = 0;
  for (const r of [fab, df, cw]) {
    const pred = predict(net.clf, r.xAdv);
    for (let i = 0; i < n; i++) {
      assert.equal(r.success[i], pred[i] !== labels[i] ? 1 : 0, 'success flag = misclassified');
      let bound = Infinity;
      for (let k = 0; k < 4; k++) {
        if (k === labels[i]) continue;
        const col = net.w2.map((row) => row[k]! - row[labels[i]!]!);
        bound = Math.min(bound, (logits[i]![labels[i]!]! - logits[i]![k]!) / (Math.sqrt(col.reduce((s, v) => s + v * v, 0)) * fro));
      }
      if (r.success[i]) assert.ok(r.distance[i]! >= bound * (1 - 1e-4), `distance ${r.distance[i]} below the lower bound ${bound}`);
    }
    assertFeasible(r, x, 'l2', 100, { lower: 0, upper: 1 }, { reported: 1e-4 });
  }
  for (let i = 0; i < n; i++) {
    if (fab.success[i] && df.success[i]) {
      fabSum += fab.distance[i]!;
      dfSum += df.distance[i]!;
    }
  }
  assert.ok(fab.success.reduce((s, v) => s + v, 0) >= df.success.reduce((s, v) => s + v, 0), 'FAB breaks at least as many as DeepFool');
  assert.ok(fabSum <= dfSum * 1.05, `FAB's total distance ${fabSum} vs DeepFool's ${dfSum}`);
  const cwSum = Array.from(cw.distance).reduce((s, v, i) => s + (fab.success[i] && df.success[i] && cw.success[i] ? v : 0), 0);
  assert.ok(cwSum <= dfSum * 1.1, `CW's total distance ${cwSum} vs DeepFool's ${dfSum}`);
  tf.dispose([fab.xAdv, df.xAdv, cw.xAdv, x, y]);
  net.dispose();
});

test('targeted FAB (and FAB-T over the top-k classes) reaches the target; same seed gives the same points; no tensor leaks', async () => {
  await selectBackend('cpu');
  const net = randomMlp(11);
  const n = 20;
  const x = tf.randomUniform([n, 8], 0, 1, 'float32', 9);
  const y = tf.tidy(() => tf.cast(tf.argMax(net.clf.logits(x), 1), 'int32')) as tf.Tensor1D;
  const targets = tf.tidy(() => tf.cast(tf.mod(tf.add(y, 1), 4), 'int32')) as tf.Tensor1D;
  const threat = lpThreat('linf', 0.5);
  const before = tf.memory().numTensors;
  const fab = new Fab({ steps: 60, restarts: 3 });
  const a = await fab.run(net.clf, x, y, { threat, targeted: true, targets, seed: 4 });
  const b = await fab.run(net.clf, x, y, { threat, targeted: true, targets, seed: 4 });
  assert.deepEqual(Array.from(a.xAdv.dataSync()), Array.from(b.xAdv.dataSync()));
  const pred = predict(net.clf, a.xAdv);
  const tg = targets.dataSync();
  for (let i = 0; i < n; i++) assert.equal(a.success[i], pred[i] === tg[i] ? 1 : 0);
  assert.ok(a.success.reduce((s, v) => s + v, 0) >= n / 2, `targeted FAB success ${a.success.reduce((s, v) => s + v, 0)}/${n}`);
  assertFeasible(a, x, 'linf', 0.5, { lower: 0, upper: 1 }, { reported: 1e-4 });
  const topk = await runTopKTargeted(new Fab({ steps: 60 }), net.clf, x, y, { threat, seed: 1 }, 3);
  const pk = predict(net.clf, topk.xAdv);
  const yl = y.dataSync();
  for (let i = 0; i < n; i++) assert.equal(topk.success[i], pk[i] !== yl[i] ? 1 : 0);
  assert.ok(topk.success.reduce((s, v) => s + v, 0) >= a.success.reduce((s, v) => s + v, 0));
  assertFeasible(topk, x, 'linf', 0.5, { lower: 0, upper: 1 }, { reported: 1e-4 });
  tf.dispose([a.xAdv, b.xAdv, topk.xAdv]);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, y, targets]);
  net.dispose();
});

test('per-feature domain bounds: every minimal-norm attack stays inside them (CW through its tanh box)', async () => {
  await selectBackend('cpu');
  const lower = Float32Array.from([0, -1, 0, 0.2, -0.5, 0, 0, 0]);
  const upper = Float32Array.from([1, 0, 0.3, 0.2, 0.5, 2, 1, 0.1]);
  const w = tf.keep(tf.tensor2d([1, -2, 3, 1, 0.5, -1, 2, 4, -3, 1, 0.2, 1, 1, -1, 2, 0.5], [8, 2]));
  const clf = fromFunction((x) => tf.matMul(x as tf.Tensor2D, w), { inputShape: [8], numClasses: 2, domain: { lower, upper } });
  const rows = [
    [0.5, -0.5, 0.1, 0.2, 0, 1, 0.5, 0.05],
    [0.9, -0.1, 0.2, 0.2, 0.4, 0.2, 0.1, 0.0],
    [0.1, -0.9, 0.0, 0.2, -0.4, 1.8, 0.9, 0.1],
  ];
  const x = tf.tensor2d(rows);
  const y = tf.tidy(() => tf.cast(tf.argMax(clf.logits(x), 1), 'int32')) as tf.Tensor1D;
  for (const [norm, eps] of [['l2', 0.8], ['linf', 0.3]] as const) {
    // CW-L2 works in l2 only (at linf it is refused, see attack-support.test.ts).
    for (const a of [new Fab({ steps: 30 }), new DeepFool(), ...(norm === 'l2' ? [new CwL2({ binarySteps: 3, steps: 60 })] : [])]) {
      const r = await a.run(clf, x, y, { threat: lpThreat(norm, eps), seed: 0 });
      assertFeasible(r, x, norm, eps, { lower, upper }, { reported: 1e-4 });
      r.xAdv.dispose();
    }
  }
  tf.dispose([x, y, w]);
});

test('bad settings are refused with a message naming the field', () => {
  assert.throws(() => new Fab({ steps: 0 }), UserError);
  assert.throws(() => new Fab({ beta: 1.5 }), /beta/);
  assert.throws(() => new DeepFool({ overshoot: -1 }), /overshoot/);
  assert.throws(() => new CwL2({ c0: 0 }), /c0/);
  assert.throws(() => new CwL2({ binarySteps: 1.5 }), /binarySteps/);
});
