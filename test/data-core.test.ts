import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { UserError } from '../src/errors.js';
import { batches, Rng, shuffledIndices, splitValidation, subset, take, toTensors, type Dataset } from '../src/data/index.js';

function toy(n: number, d = 3): Dataset {
  return {
    name: 'toy',
    x: Float32Array.from({ length: n * d }, (_, i) => i),
    y: Int32Array.from({ length: n }, (_, i) => i % 4),
    n,
    shape: [d],
    numClasses: 4,
    classNames: ['a', 'b', 'c', 'd'],
    domain: { lower: 0, upper: 1000 },
  };
}

test('Rng: deterministic, seeds differ, state round trip, int and shuffle', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const seqA = Array.from({ length: 100 }, () => a.next());
  assert.deepEqual(seqA, Array.from({ length: 100 }, () => b.next()));
  assert.ok(seqA.every((u) => u >= 0 && u < 1));
  assert.notDeepEqual(seqA.slice(0, 5), Array.from({ length: 5 }, (() => { const c = new Rng(43); return () => c.next(); })()));
  assert.notEqual(new Rng(2 ** 40).next(), new Rng(0).next());

  const saved = JSON.parse(JSON.stringify(a.state()));
  const resumed = Rng.fromState(saved);
  assert.deepEqual(Array.from({ length: 50 }, () => resumed.nextUint32()), Array.from({ length: 50 }, () => a.nextUint32()));

  const counts = new Array<number>(6).fill(0);
  const r = new Rng(1);
  for (let i = 0; i < 6000; i++) counts[r.int(6)]!++;
  assert.ok(counts.every((c) => c > 850 && c < 1150), `int(6) counts ${counts}`);
  const arr = [0, 1, 2, 3, 4, 5, 6, 7];
  r.shuffle(arr);
  assert.deepEqual([...arr].sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.throws(() => r.int(0), UserError);
  assert.throws(() => new Rng(0.5), UserError);
  assert.throws(() => Rng.fromState({ algorithm: 'xoshiro128**', s: [0, 0, 0, 0] }), UserError);
});

test('subset takes the first n in order; bad n is a UserError', () => {
  const ds = toy(10);
  const s = subset(ds, 4);
  assert.equal(s.n, 4);
  assert.deepEqual(Array.from(s.y), [0, 1, 2, 3]);
  assert.deepEqual(Array.from(s.x), Array.from({ length: 12 }, (_, i) => i));
  assert.equal(subset(ds, 100).n, 10);
  assert.throws(() => subset(ds, 0), (e: unknown) => e instanceof UserError && /--n/.test(e.message));
  assert.throws(() => subset(ds, 2.5), UserError);
});

test('batches: every index exactly once per epoch, shuffled or not; dropRemainder', () => {
  const ds = toy(103);
  const rng = new Rng(7);
  for (let epoch = 0; epoch < 2; epoch++) {
    const seen = new Array<number>(ds.n).fill(0);
    let total = 0;
    for (const b of batches(ds, 16, { shuffle: rng })) {
      assert.equal(b.x.length, b.size * 3);
      for (let k = 0; k < b.size; k++) {
        const i = b.indices[k]!;
        seen[i]!++;
        assert.equal(b.y[k], ds.y[i]);
        assert.equal(b.x[k * 3 + 2], ds.x[i * 3 + 2]);
      }
      total += b.size;
    }
    assert.equal(total, 103);
    assert.ok(seen.every((c) => c === 1));
  }
  const inOrder = [...batches(ds, 16)];
  assert.equal(inOrder.length, 7);
  assert.deepEqual(Array.from(inOrder[1]!.indices), Array.from({ length: 16 }, (_, i) => 16 + i));
  assert.equal(inOrder[6]!.size, 7);
  assert.equal([...batches(ds, 16, { dropRemainder: true })].length, 6);
  assert.throws(() => batches(ds, 0), UserError);
  const perm = shuffledIndices(50, new Rng(0));
  assert.deepEqual([...perm].sort((p, q) => p - q), Array.from({ length: 50 }, (_, i) => i));
});

test('toTensors: shapes, one-hot labels, no leaks beyond the two returned tensors', async () => {
  await tf.setBackend('cpu');
  const ds = toy(5, 4);
  const [b] = [...batches({ ...ds, shape: [2, 2, 1] }, 5)];
  const before = tf.memory().numTensors;
  const { xs, ys } = toTensors(b!, [2, 2, 1], 4);
  assert.deepEqual(xs.shape, [5, 2, 2, 1]);
  assert.deepEqual(ys.shape, [5, 4]);
  const am = tf.argMax(ys, 1);
  assert.deepEqual(Array.from(am.dataSync()), [0, 1, 2, 3, 0]);
  assert.deepEqual(Array.from(xs.dataSync()), Array.from(b!.x));
  tf.dispose([xs, ys, am]);
  assert.equal(tf.memory().numTensors, before);
});

test('splitValidation: seeded, disjoint, complete, order kept', () => {
  const ds = toy(100);
  const { train, val } = splitValidation(ds, 0.2, 5);
  assert.equal(val.n, 20);
  assert.equal(train.n, 80);
  const firstFeature = (d: Dataset): number[] => Array.from({ length: d.n }, (_, i) => d.x[i * 3]! / 3);
  const all = [...firstFeature(train), ...firstFeature(val)].sort((p, q) => p - q);
  assert.deepEqual(all, Array.from({ length: 100 }, (_, i) => i));
  const ordered = firstFeature(train);
  assert.deepEqual(ordered, [...ordered].sort((p, q) => p - q));
  assert.deepEqual(splitValidation(ds, 0.2, 5).val.y, val.y);
  assert.notDeepEqual(firstFeature(splitValidation(ds, 0.2, 6).val), firstFeature(val));
  assert.throws(() => splitValidation(ds, 1, 0), UserError);
  assert.equal(take(ds, [3, 1]).y[0], 3);
});
