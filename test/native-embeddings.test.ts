/**
 * The native engine's kernels against the tfjs cpu backend (the reference): GatherV2 (any axis and batchDims) and UnsortedSegmentSum, and a text-CNN stack over them.
 * Skipped when the addon is not built, unless ADVTRAIN_REQUIRE_NATIVE=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { nativeKernelStats, setNativeKernelEnabled, registerNativeKernels, MAX_GRAD } from '../src/engine/native/index.js';
import { rand } from './helpers.js';
import { spec, runOn, check, weightedSum, nativeSuite, type Spec } from './native-harness.js';

nativeSuite('native embedding kernels equal the tfjs cpu kernels', () => {
  // ---- Embeddings: GatherV2 (axis 0) and UnsortedSegmentSum (its gradient) ----
  /** Integer ids in [lo, hi) as float32 values (cast to int32 inside the computation). */
  const ids = (shape: number[], seed: number, lo: number, hi: number): Spec => ({ shape, values: rand(tf.util.sizeFromShape(shape), seed, lo, hi).map(Math.floor) });
  const asInt = (t: tf.Tensor) => tf.cast(t, 'int32') as tf.Tensor1D; // any rank: typed for unsortedSegmentSum
  const GATHER: { table: number[]; idx: number[] }[] = [
    { table: [7, 3], idx: [4] },
    { table: [50, 1], idx: [3, 5] },
    { table: [300, 2, 5], idx: [6, 4] },
    { table: [500, 64], idx: [40, 100] },
    { table: [60, 512], idx: [12, 100] }, // 614,400 floats gathered (and summed back): split over threads
    { table: [20, 16], idx: [2, 3, 4] },
  ];
  for (const g of GATHER) {
    const inputs = [spec(g.table, 110), ids(g.idx, 111, 0, Math.min(g.table[0]!, 9))]; // ids repeat
    test(`GatherV2 x${g.table} indices ${g.idx} (exact)`, () =>
      check('GatherV2', inputs, (x, i) => tf.gather(x!, asInt(i!)), [tf.GatherV2], 0));
    test(`GatherV2 gradient (UnsortedSegmentSum) x${g.table} indices ${g.idx}`, () =>
      check('GatherV2 grad', [spec(g.table, 112), ids(g.idx, 113, 0, g.table[0]!)], (x, i) => tf.grad((t: tf.Tensor) => weightedSum(tf.gather(t, asInt(i!)), 114))(x!), [tf.GatherV2, tf.UnsortedSegmentSum]));
  }
  // Any axis and batchDims: [13, 784] and [20, 784] with batchDims 1 are the l1 projection's
  // per-row gathers that crashed in tfjs-backend-wasm's kernel on MNIST.
  const GATHER_AXES: { table: number[]; idx: number[]; axis: number; batchDims: number }[] = [
    { table: [13, 784], idx: [13], axis: 1, batchDims: 1 },
    { table: [20, 784], idx: [20], axis: 1, batchDims: 1 },
    { table: [3, 5, 3], idx: [3, 4], axis: 2, batchDims: 1 },
    { table: [2, 3, 4, 5], idx: [2, 3, 6], axis: 2, batchDims: 2 },
    { table: [6, 9, 4], idx: [5, 2], axis: 1, batchDims: 0 },
  ];
  for (const g of GATHER_AXES) {
    test(`GatherV2 x${g.table} indices ${g.idx} on axis ${g.axis}, batchDims ${g.batchDims} (exact)`, () =>
      check('GatherV2', [spec(g.table, 124), ids(g.idx, 125, 0, g.table[g.axis]!)], (x, i) => tf.gather(x!, asInt(i!), g.axis, g.batchDims), [tf.GatherV2], 0));
  }
  test('GatherV2 on an int32 table (exact)', () =>
    check('GatherV2 int32', [spec([30, 4], 115, -1e6, 1e6), ids([5, 7], 116, 0, 30)], (x, i) => tf.gather(asInt(x!), asInt(i!)), [tf.GatherV2], 0));

  const SEGMENTS: { x: number[]; segs: number }[] = [
    { x: [9], segs: 4 },
    { x: [12, 5], segs: 3 },
    { x: [10, 2, 3], segs: 7 },
    { x: [4000, 64], segs: 500 },
    { x: [1200, 512], segs: 50 }, // 640,000 floats written: split over threads
  ];
  for (const c of SEGMENTS) {
    // ids -2 .. segs+1: repeated, and some outside [0, segs), which are dropped
    test(`UnsortedSegmentSum x${c.x} into ${c.segs} segments, repeated and out-of-range ids`, () =>
      check('UnsortedSegmentSum', [spec(c.x, 117), ids([c.x[0]!], 118, -2, c.segs + 2)], (x, i) => tf.unsortedSegmentSum(x!, asInt(i!), c.segs), [tf.UnsortedSegmentSum]));
  }
  test('UnsortedSegmentSum of int32 values', () =>
    check('UnsortedSegmentSum int32', [spec([40, 6], 119, -1000, 1000), ids([40], 120, -1, 9)], (x, i) => tf.unsortedSegmentSum(asInt(x!), asInt(i!), 8), [tf.UnsortedSegmentSum], 0));
  test('UnsortedSegmentSum gives the same bits on 1 and 2 threads', async () => {
    const inputs = [spec([1200, 512], 121), ids([1200], 122, 0, 300)];
    const fn = (x?: tf.Tensor, i?: tf.Tensor) => tf.unsortedSegmentSum(x!, asInt(i!), 300);
    const two = await runOn('wasm', inputs, fn);
    assert.ok(registerNativeKernels(1).ok);
    try {
      const one = await runOn('wasm', inputs, fn);
      assert.deepEqual(one[0], two[0]);
    } finally {
      assert.ok(registerNativeKernels(2).ok);
    }
  });
  test('embedding look-ups on empty tensors fall back and match cpu', async () => {
    const cases: [string, () => tf.Tensor][] = [
      ['no indices', () => tf.gather(tf.ones([5, 3]), tf.zeros([0], 'int32'))],
      ['empty rows', () => tf.gather(tf.ones([5, 0]), tf.tensor1d([1, 4], 'int32'))],
      ['empty table, no indices', () => tf.gather(tf.ones([0, 3]), tf.zeros([2, 0], 'int32'))],
      ['sum of no rows', () => tf.unsortedSegmentSum(tf.ones([0, 4]), tf.zeros([0], 'int32'), 3)],
      ['sum of empty rows', () => tf.unsortedSegmentSum(tf.ones([3, 0]), tf.tensor1d([0, 1, 1], 'int32'), 2)],
    ];
    for (const [label, f] of cases) {
      await tf.setBackend('cpu');
      const ref = tf.tidy(f);
      const refShape = ref.shape;
      const refValues = Array.from(ref.dataSync());
      ref.dispose();
      await tf.setBackend('wasm');
      const before = tf.memory().numTensors;
      const got = tf.tidy(f);
      assert.deepEqual(got.shape, refShape, label);
      assert.deepEqual(Array.from(got.dataSync()), refValues, label);
      got.dispose();
      assert.equal(tf.memory().numTensors, before, `${label}: tensors leaked`);
    }
  });
  test('GatherV2 with an index out of range throws the wasm kernel\'s error and leaks nothing', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor(rand(15, 123), [5, 3]);
    for (const [bad, at] of [[5, 1], [-1, 2], [1000000, 0]]) {
      const idx = tf.tensor1d([0, 2, 4, 1].map((v, k) => (k === at ? bad! : v)), 'int32');
      const before = tf.memory();
      nativeKernelStats(true);
      assert.throws(() => tf.tidy(() => tf.gather(x, idx)), { message: `GatherV2: the index value ${bad} is not in [0, 4]` });
      assert.equal(nativeKernelStats(true)[tf.GatherV2]?.fallback ?? 0, 0);
      const now = tf.memory();
      assert.equal(now.numTensors, before.numTensors);
      assert.equal(now.numDataBuffers, before.numDataBuffers);
      // The same message as the wasm kernel the native one replaces.
      setNativeKernelEnabled(tf.GatherV2, false);
      try {
        assert.throws(() => tf.tidy(() => tf.gather(x, idx)), { message: `GatherV2: the index value ${bad} is not in [0, 4]` });
      } finally {
        setNativeKernelEnabled(tf.GatherV2, true);
      }
      idx.dispose();
    }
    x.dispose();
  });
  test('text-CNN-like stack: embedding -> conv1d -> max over time -> dense, all gradients', () =>
    check(
      'embedding stack',
      [spec([300, 16], 124, -0.5, 0.5), ids([4, 20], 125, 0, 40), spec([5, 16, 8], 126, -0.3, 0.3), spec([8], 127, -0.1, 0.1), spec([8, 2], 128, -0.5, 0.5), spec([2], 129, -0.1, 0.1)],
      (emb, tok, w1, b1, w2, b2) => {
        const t = asInt(tok!);
        return tf.grads((e: tf.Tensor, a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => {
          let h: tf.Tensor = tf.gather(e, t); // [4, 20, 16]
          h = tf.relu(tf.add(tf.conv1d(h as tf.Tensor3D, a as tf.Tensor3D, 1, 'valid'), b));
          h = tf.max(h, 1);
          h = tf.add(tf.matMul(h as tf.Tensor2D, c as tf.Tensor2D), d);
          return weightedSum(h, 130);
        })([emb!, w1!, b1!, w2!, b2!]);
      },
      [tf.GatherV2, tf.UnsortedSegmentSum, tf.Conv2D, tf.Conv2DBackpropFilter, tf.Max, MAX_GRAD],
    ));
});
