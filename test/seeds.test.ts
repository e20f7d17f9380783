import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/engine/backend.js';
import { fromFunction } from '../src/model/classifier.js';
import type { Dataset } from '../src/data/dataset.js';
import { deriveSeed, Rng } from '../src/data/rng.js';
import { lpThreat } from '../src/threat/threat-model.js';
import { Pgd } from '../src/attacks/pgd.js';
import { runAttack } from '../src/eval/attack-run.js';

function correlation(a: number[], b: number[]): number {
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  const ma = mean(a);
  const mb = mean(b);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += (a[i]! - ma) * (b[i]! - mb);
    aa += (a[i]! - ma) ** 2;
    bb += (b[i]! - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

const stream = (seed: number, n = 4000) => {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => rng.next());
};

test('deriveSeed: deterministic, distinct for distinct paths, and the streams it seeds are uncorrelated', () => {
  assert.equal(deriveSeed(3, 'pgd-start', 2, 17), deriveSeed(3, 'pgd-start', 2, 17));
  const seen = new Map<number, string>();
  for (const seed of [0, 1, 2, 7919, -1, 2 ** 40]) {
    for (const name of ['pgd-start', 'apgd-start', 'radius']) {
      for (let r = 0; r < 10; r++) {
        for (let i = 0; i < 100; i++) {
          const s = deriveSeed(seed, name, r, i);
          assert.ok(Number.isSafeInteger(s) && s >= 0);
          const key = `${seed}/${name}/${r}/${i}`;
          assert.ok(!seen.has(s), `${key} and ${seen.get(s)} share seed ${s}`);
          seen.set(s, key);
        }
      }
    }
  }
  // Paths that the old arithmetic formulas confused: order, concatenation, neighbours.
  const near = [deriveSeed(0), deriveSeed(0, 0), deriveSeed(0, 1, 2), deriveSeed(0, 2, 1), deriveSeed(0, 12), deriveSeed(0, '1', 2), deriveSeed(1, 0), deriveSeed(0, 'a', 'b'), deriveSeed(0, 'ab')];
  assert.equal(new Set(near).size, near.length);
  for (const [a, b] of [[deriveSeed(0, 'x', 0), deriveSeed(0, 'x', 1)], [deriveSeed(5, 0), deriveSeed(6, 0)], [deriveSeed(0, 'radius'), deriveSeed(1, 'radius')]]) {
    assert.ok(Math.abs(correlation(stream(a!), stream(b!))) < 0.06, `streams ${a} and ${b} correlate`);
  }
  assert.throws(() => deriveSeed(0, 0.5), /integer or a name/);
});

test("the seed clash is gone: a random start's L2 radius draw and the next seed's direction draw are independent", async () => {
  await selectBackend('cpu');
  // With one feature, an L2 start is sign(g)·ε·u: u is the radius draw, sign(g) the direction.
  // The old code drew the radius of seed s from seed s + 1, the seed restart r + 1 (s + 1 in
  // PGD/APGD's seed·7919 + r) draws its direction from: the two agreed ~90% of the time.
  const threat = lpThreat('l2', 1);
  const box = { lower: -10, upper: 10 };
  const x = tf.zeros([1, 1]);
  let agree = 0;
  const n = 300;
  for (let s = 0; s < n; s++) {
    const a = threat.randomStart(x, box, s);
    const b = threat.randomStart(x, box, s + 1);
    const radius = Math.abs(a.dataSync()[0]!);
    const direction = b.dataSync()[0]!;
    if (radius > 0.5 === direction > 0) agree++;
    tf.dispose([a, b]);
  }
  x.dispose();
  assert.ok(agree / n < 0.62, `radius and next direction agree ${((100 * agree) / n).toFixed(1)}% of the time`);
});

/** A 3-class model on 8 features. */
function model() {
  const w = tf.keep(tf.randomNormal([8, 3], 0, 1, 'float32', 3));
  const clf = fromFunction((x) => tf.matMul(tf.reshape(x, [-1, 8]) as tf.Tensor2D, w), { inputShape: [8], numClasses: 3, domain: { lower: 0, upper: 1 } });
  return { clf, dispose: () => w.dispose() };
}

test('PGD with random start gives each example the same result whether it is attacked in one batch or split in two', async () => {
  await selectBackend('cpu');
  const { clf, dispose } = model();
  const n = 6;
  const x = tf.randomUniform([n, 8], 0, 1, 'float32', 9);
  const y = tf.tidy(() => tf.cast(tf.argMax(clf.logits(x), 1), 'int32')) as tf.Tensor1D;
  const indices = [10, 11, 12, 13, 14, 15];
  for (const threat of [lpThreat('linf', 0.05), lpThreat('l2', 0.2), lpThreat('l1', 0.5)]) {
    const pgd = new Pgd({ steps: 3, restarts: 2 });
    const whole = await pgd.run(clf, x, y, { threat, seed: 4, indices });
    const parts = [];
    for (const [lo, hi] of [[0, 3], [3, 6]] as const) {
      const xs = tf.slice(x, lo, hi - lo);
      const ys = tf.slice(y, lo, hi - lo);
      parts.push(await pgd.run(clf, xs, ys, { threat, seed: 4, indices: indices.slice(lo, hi) }));
      tf.dispose([xs, ys]);
    }
    const split = Float32Array.from([...parts[0]!.xAdv.dataSync(), ...parts[1]!.xAdv.dataSync()]);
    assert.deepEqual(Array.from(split), Array.from(whole.xAdv.dataSync()), `${threat}: the examples moved differently when split`);
    assert.deepEqual([...parts[0]!.success, ...parts[1]!.success], Array.from(whole.success));
    // The start depends on the example's index, not only on the seed.
    const shifted = await pgd.run(clf, x, y, { threat, seed: 4, indices: indices.map((i) => i + 100) });
    assert.notDeepEqual(Array.from(shifted.xAdv.dataSync()), Array.from(whole.xAdv.dataSync()));
    tf.dispose([whole.xAdv, shifted.xAdv, ...parts.map((p) => p.xAdv)]);
  }
  // Through runAttack: batch size 6 vs 2, untargeted and targeted (random targets per example).
  const ds: Dataset = { name: 'r', x: x.dataSync() as Float32Array, y: y.dataSync() as Int32Array, n, shape: [8], numClasses: 3, classNames: ['a', 'b', 'c'], domain: { lower: 0, upper: 1 } };
  for (const targeted of [false, true]) {
    const a = await runAttack(clf, ds, new Pgd({ steps: 3, restarts: 2 }), { threat: lpThreat('l2', 0.3), seed: 1, batchSize: 6, targeted });
    const b = await runAttack(clf, ds, new Pgd({ steps: 3, restarts: 2 }), { threat: lpThreat('l2', 0.3), seed: 1, batchSize: 2, targeted });
    assert.deepEqual(Array.from(a.distances), Array.from(b.distances));
    assert.deepEqual(Array.from(a.robust), Array.from(b.robust));
  }
  tf.dispose([x, y]);
  dispose();
});
