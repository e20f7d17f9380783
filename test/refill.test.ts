import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/engine/backend.js';
import type { Classifier } from '../src/model/classifier.js';
import { lpThreat } from '../src/threat/threat-model.js';
import { SquareAttack } from '../src/attacks/square.js';
import { attackObjective, isSuccess } from '../src/attacks/losses.js';
import { rowObjective } from '../src/attacks/row-losses.js';
import { runAttack } from '../src/eval/attack-run.js';
import type { Dataset } from '../src/data/dataset.js';
import { linearClassifier, W, rand } from './helpers.js';

/** Records the batch size of every logits call. */
function recording(clf: Classifier): { clf: Classifier; calls: number[] } {
  const calls: number[] = [];
  return { clf: { ...clf, logits: (x) => (calls.push(x.shape[0]!), clf.logits(x)) }, calls };
}

/** Points of the linear model's class 0 with margins from tiny to large: some fall to ε, some cannot. */
function points(n: number): { x: Float32Array; f: (x: number[]) => number } {
  const { f } = linearClassifier(W, 0, 5);
  const x = rand(n * W.length, 11, -0.5, 0.5);
  for (let i = 0; i < n; i++) {
    const row = Array.from(x.subarray(i * W.length, (i + 1) * W.length));
    // Shift along w so that f(x) = 0.2 + 0.25·i > 0 (class 0), margins growing with i.
    const shift = (0.2 + 0.25 * i - f(row)) / W.reduce((a, w) => a + w * w, 0);
    for (let j = 0; j < W.length; j++) x[i * W.length + j]! += shift * W[j]!;
  }
  return { x, f };
}

test('Square with a refilled window gives every example the result it gets alone, and keeps its batches full while examples wait', async () => {
  await selectBackend('cpu');
  const n = 12;
  const { clf: base } = linearClassifier(W, 0, 5);
  const { x: xs } = points(n);
  const threat = lpThreat('linf', 0.2);
  const square = new SquareAttack({ maxQueries: 150 });
  const before = tf.memory().numTensors;
  const x = tf.tensor2d(xs, [n, W.length]);
  const y = tf.zeros([n], 'int32') as tf.Tensor1D;
  const indices = Array.from({ length: n }, (_, i) => 100 + i);
  const { clf, calls } = recording(base);
  const window = 3;
  const activeAfter: number[] = [];
  const together = await square.run(clf, x, y, { threat, seed: 5, indices, window, onIteration: (_, active) => activeAfter.push(active) });
  const adv = together.xAdv.dataSync();
  const succeeded = Array.from(together.success).filter((s) => s).length;
  assert.ok(succeeded > 0 && succeeded < n, `the case mixes early finishers and examples that spend the budget (${succeeded} of ${n} broken)`);
  // Each query batch holds the examples still running plus as many waiting ones as fit the window.
  assert.equal(calls[0], window);
  let entered = window;
  let fullWhileWaiting = 0;
  for (let r = 0; r + 1 < calls.length; r++) {
    const expected = Math.min(window, activeAfter[r]! + (n - entered));
    if (entered < n) {
      assert.equal(calls[r + 1], window, `query batch ${r + 1} is not full while examples wait`);
      fullWhileWaiting++;
    }
    assert.equal(calls[r + 1], expected, `query batch ${r + 1}`);
    entered += expected - activeAfter[r]!;
  }
  assert.equal(entered, n, 'every example entered');
  assert.ok(fullWhileWaiting > 0);
  assert.equal(calls.reduce((a, c) => a + c, 0), together.queries.reduce((a, q) => a + q, 0), 'reported queries = rows evaluated');
  for (let i = 0; i < n; i++) {
    const xi = tf.slice(x, [i, 0], [1, -1]);
    const yi = tf.slice(y, [i], [1]) as tf.Tensor1D;
    const alone = await square.run(base, xi, yi, { threat, seed: 5, indices: [indices[i]!] });
    assert.equal(together.success[i], alone.success[0], `example ${i}: success`);
    assert.equal(together.queries[i], alone.queries[0], `example ${i}: queries`);
    assert.deepEqual(Array.from(adv.subarray(i * W.length, (i + 1) * W.length)), Array.from(alone.xAdv.dataSync()), `example ${i}: adversarial input`);
    tf.dispose([xi, yi, alone.xAdv]);
  }
  tf.dispose([x, y, together.xAdv]);
  assert.equal(tf.memory().numTensors, before);
});

test('runAttack hands a refilling attack several batches at once: results equal batch by batch and alone', async () => {
  await selectBackend('cpu');
  const n = 10;
  const { clf } = linearClassifier(W, 0, 5);
  const { x } = points(n);
  const ds: Dataset = { name: 'linear', x, y: new Int32Array(n), n, shape: [W.length], numClasses: 2, classNames: ['0', '1'], domain: clf.domain };
  const threat = lpThreat('linf', 0.2);
  const square = new SquareAttack({ maxQueries: 120 });
  const small = await runAttack(clf, ds, square, { threat, batchSize: 2, seed: 1 });
  const large = await runAttack(clf, ds, square, { threat, batchSize: 64, seed: 1 });
  assert.deepEqual(Array.from(small.robust), Array.from(large.robust));
  assert.deepEqual(Array.from(small.queriesPer), Array.from(large.queriesPer));
  assert.deepEqual(Array.from(small.distances), Array.from(large.distances));
  assert.ok(small.robust.some((r) => r) && small.robust.some((r) => !r), 'some examples broken, some not');
});

test('rowObjective equals attackObjective and isSuccess (margin and cross-entropy, untargeted and targeted)', async () => {
  await selectBackend('cpu');
  const b = 64;
  const classes = 7;
  const z = rand(b * classes, 3, -30, 30);
  const y = Int32Array.from({ length: b }, (_, i) => i % classes);
  const t = Int32Array.from({ length: b }, (_, i) => (i * 3 + 1) % classes);
  // Rows where the label's logit is the largest, so both outcomes of success occur.
  for (let i = 0; i < b; i += 3) z[i * classes + y[i]!] = 100;
  const before = tf.memory().numTensors;
  for (const loss of ['cw', 'ce'] as const) {
    for (const targeted of [false, true]) {
      const want = tf.tidy(() => {
        const logits = tf.tensor2d(z, [b, classes]);
        const yt = tf.tensor1d(y, 'int32');
        const tt = targeted ? tf.tensor1d(t, 'int32') : undefined;
        return [attackObjective(loss, logits, yt, tt).dataSync(), isSuccess(logits, yt, tt).dataSync()] as const;
      });
      const got = rowObjective(loss, z, classes, y, targeted ? t : undefined);
      for (let i = 0; i < b; i++) {
        assert.ok(Math.abs(got.objective[i]! - want[0][i]!) <= 1e-4 * Math.max(1, Math.abs(want[0][i]!)), `${loss} targeted=${targeted} row ${i}: ${got.objective[i]} vs ${want[0][i]}`);
        assert.equal(got.success[i], want[1][i], `${loss} targeted=${targeted} row ${i}: success`);
      }
    }
  }
  assert.equal(tf.memory().numTensors, before);
});
