/**
 * The native engine's kernels against the tfjs cpu backend (the reference): Sum (bias gradients, trailing axes) and Max over adjacent axes with its one-pass gradient.
 * Skipped when the addon is not built, unless ADVTRAIN_REQUIRE_NATIVE=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { nativeKernelStats, MAX_GRAD } from '../src/engine/native/index.js';
import { relErr } from './helpers.js';
import { spec, runOn, check, weightedSum, nativeSuite } from './native-harness.js';

nativeSuite('native reduction kernels equal the tfjs cpu kernels', () => {
  for (const [shape, axis, keepDims] of [
    [[64, 14, 14, 8], [0, 1, 2], false],
    [[3, 5, 7], [1, 0], true],
    [[100, 33], 0, false],
    [[2, 3, 4, 5], [-4, -3, -2], false],
    // the AVX-512 path: row blocks of 64 and column chunks of 64 with ragged ends
    [[16, 28, 28, 32], [0, 1, 2], false],
    [[130, 83], 0, false],
    [[200, 64], 0, true],
    [[500, 1], 0, false],
  ] as [number[], number | number[], boolean][]) {
    test(`Sum over all axes but the last x${shape} axis ${axis} keepDims ${keepDims}`, () =>
      check('Sum', [spec(shape, 70)], (x) => tf.sum(x!, axis, keepDims), [tf.Sum]));
  }
  // Sums over trailing axes: a whole tensor (an attack's gradient read back), per-example sums;
  // blocks of 1024 with ragged ends, and rows over threads from 256K floats.
  for (const [shape, axis, keepDims] of [
    [[64, 28, 28, 1], undefined, false],
    [[2100], 0, false],
    [[8, 5000], 1, false],
    [[3, 5, 7], [1, 2], true],
    [[4, 3, 2], [0, 1, 2], true],
    [[300, 1000], -1, false],
  ] as [number[], number | number[] | undefined, boolean][]) {
    test(`Sum over trailing axes x${shape} axis ${axis ?? 'all'} keepDims ${keepDims}`, () =>
      check('Sum', [spec(shape, 72)], (x) => tf.sum(x!, axis, keepDims), [tf.Sum]));
  }
  test('Sum over a middle axis falls back and still matches cpu', async () => {
    const fn = (x?: tf.Tensor) => [tf.sum(x!, 1), tf.sum(x!, [0, 1]), tf.sum(x!, -1, true)];
    const ref = await runOn('cpu', [spec([4, 5, 6], 71)], fn);
    const got = await runOn('wasm', [spec([4, 5, 6], 71)], fn);
    for (let i = 0; i < ref.length; i++) assert.ok(relErr(got[i]!, ref[i]!) <= 1e-4);
  });

  // Max over adjacent axes (the global max pooling of text models reduces the middle one) and its
  // one-pass gradient; ties (equal maxima) all get the gradient, as in tfjs.
  for (const [shape, axis, keepDims] of [
    [[64, 96, 128], 1, false],
    [[4, 20, 8], 1, true],
    [[6, 10], -1, false],
    [[3, 4, 5, 6], [1, 2], false],
    [[2, 3, 4], [0, 1], true],
    [[5, 7], [0, 1], false],
    [[9], 0, false],
    [[3, 1, 4], 1, false],
  ] as [number[], number | number[], boolean][]) {
    test(`Max and its gradient x${shape} axis ${axis} keepDims ${keepDims}`, () =>
      check(
        'Max',
        [spec(shape, 140)],
        (x) => [tf.max(x!, axis, keepDims), tf.grad((t: tf.Tensor) => weightedSum(tf.max(t, axis, keepDims), 141))(x!)],
        [tf.Max, MAX_GRAD],
      ));
  }
  test('Max with ties and NaN: every tied maximum gets the gradient; NaN wins as on cpu', async () => {
    const values = Float32Array.from([1, 3, 3, 2, 0, -1, NaN, 5, 7, 7, 7, 7]);
    const inputs = [{ shape: [3, 4], values }];
    const fn = (x?: tf.Tensor) => [tf.max(x!, 1), tf.grad((t: tf.Tensor) => weightedSum(tf.max(t, 1), 142))(x!)];
    const ref = await runOn('cpu', inputs, fn);
    nativeKernelStats(true);
    const got = await runOn('wasm', inputs, fn);
    const stats = nativeKernelStats(true);
    assert.ok(stats[tf.Max]?.native && stats[MAX_GRAD]?.native, JSON.stringify(stats));
    for (let k = 0; k < ref.length; k++) {
      for (let i = 0; i < ref[k]!.length; i++) assert.ok(Object.is(got[k]![i], ref[k]![i]), `output ${k}[${i}]: ${got[k]![i]} vs cpu ${ref[k]![i]}`);
    }
    assert.ok(Number.isNaN(got[0]![1]!), 'the row with a NaN has a NaN maximum');
  });
  test('Max over axes that are not adjacent falls back and still matches cpu', async () => {
    const fn = (x?: tf.Tensor) => [tf.max(x!, [0, 2]), tf.grad((t: tf.Tensor) => weightedSum(tf.max(t, [0, 2]), 143))(x!)];
    nativeKernelStats(true);
    const ref = await runOn('cpu', [spec([4, 5, 6], 144)], fn);
    const got = await runOn('wasm', [spec([4, 5, 6], 144)], fn);
    assert.ok((nativeKernelStats(true)[tf.Max]?.fallback ?? 0) > 0, 'Max fell back');
    for (let i = 0; i < ref.length; i++) assert.ok(relErr(got[i]!, ref[i]!) <= 1e-4);
  });
});
