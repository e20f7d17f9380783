/**
 * The native engine's kernels against the tfjs cpu backend (the reference): Transpose, Identity and Cast without copies, ReLU and its fused gradient, bias Add; denormals.
 * Skipped when the addon is not built, unless ADVTRAIN_REQUIRE_NATIVE=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { nativeKernelStats, setNativeKernelEnabled, RELU_GRAD, MAX_GRAD } from '../src/engine/native/index.js';
import { rand, relErr } from './helpers.js';
import { loaded, spec, runOn, check, weightedSum, nativeSuite } from './native-harness.js';

nativeSuite('native element-wise kernels equal the tfjs cpu kernels', () => {
  test('Transpose that keeps the data order shares the buffer; others fall back; all match cpu', async () => {
    const fn = (x?: tf.Tensor) => [
      tf.transpose(x!, [0, 1, 2, 3]),
      tf.transpose(x!, [0, 2, 1, 3]), // moves a size-1 axis only
      tf.transpose(x!, [3, 2, 1, 0]),
      tf.transpose(tf.reshape(x!, [4, 5, 6]), [0, 1, 2]),
    ];
    const inputs = [spec([4, 1, 5, 6], 150)];
    const ref = await runOn('cpu', inputs, fn);
    nativeKernelStats(true);
    const got = await runOn('wasm', inputs, fn);
    const st = nativeKernelStats(true)[tf.Transpose];
    assert.equal(st?.native, 3, JSON.stringify(st));
    assert.equal(st?.fallback, 1, JSON.stringify(st));
    for (let i = 0; i < ref.length; i++) assert.deepEqual(got[i], ref[i]);
  });

  // ReLU, its fused gradient, bias adds: small shapes (one thread) and big ones (split over threads).
  for (const shape of [[1], [7], [2, 9, 9, 5], [64, 1024], [24, 28, 28, 32]]) {
    test(`Relu and its gradient x${shape}`, () =>
      check(
        'Relu',
        [spec(shape, 90)],
        (x) => [tf.relu(x!), tf.grad((t: tf.Tensor) => weightedSum(tf.relu(t), 91))(x!)],
        [tf.Relu, RELU_GRAD],
      ));
  }
  test('gradient of the ReLU gradient (second order) equals cpu', () =>
    check(
      'Relu second order',
      [spec([3, 7, 5], 89)],
      (x) => tf.grad((t: tf.Tensor) => weightedSum(tf.grad((u: tf.Tensor) => weightedSum(tf.mul(tf.relu(u), u), 87))(t), 88))(x!),
      [RELU_GRAD],
    ));
  test('denormals are flushed to zero by default (as TensorFlow does), kept on request; the JS thread keeps IEEE denormals', async () => {
    assert.ok(loaded.ok);
    const addon = loaded.addon;
    assert.equal(addon.getFlushDenormals(), true, 'flushing is the default');
    const inputs = [{ shape: [4], values: Float32Array.from([1e-38, -1e-39, 2, 1e-30]) }];
    const fn = (x?: tf.Tensor) => [tf.relu(x!)];
    const [flushed] = await runOn('wasm', inputs, fn);
    assert.deepEqual([...flushed!], [0, 0, 2, Math.fround(1e-30)]);
    addon.setFlushDenormals(false);
    try {
      const [kept] = await runOn('wasm', inputs, fn);
      assert.deepEqual([...kept!], [Math.fround(1e-38), 0, 2, Math.fround(1e-30)]);
    } finally {
      addon.setFlushDenormals(true);
    }
    // After native calls, the JS thread's own float math still has denormals (DAZ would read the
    // double 5e-324 as 0, FTZ would round the float32 1e-38 to 0).
    assert.equal(5e-324 * 1, Number.MIN_VALUE);
    assert.notEqual(Math.fround(1e-38), 0);
    assert.throws(() => (addon.setFlushDenormals as (v: unknown) => void)('yes'), /setFlushDenormals/);
  });

  test('Relu and its gradient treat NaN, ±0, ±Infinity (and denormals, when kept) as tfjs does', async () => {
    const inputs = [{ shape: [40], values: Float32Array.from({ length: 40 }, (_, i) => [NaN, -0, 0, 1, -1, Infinity, -Infinity, 1e-38][i % 8]!) }];
    const fn = (x?: tf.Tensor) => [tf.relu(x!), tf.grad((t: tf.Tensor) => weightedSum(tf.relu(t), 92))(x!)];
    const ref = await runOn('cpu', inputs, fn);
    nativeKernelStats(true);
    const addon = loaded.ok ? loaded.addon : undefined;
    addon?.setFlushDenormals(false);
    let got: Float32Array[];
    try {
      got = await runOn('wasm', inputs, fn);
    } finally {
      addon?.setFlushDenormals(true);
    }
    const stats = nativeKernelStats(true);
    assert.ok(stats[tf.Relu]?.native && stats[RELU_GRAD]?.native, JSON.stringify(stats));
    for (let k = 0; k < ref.length; k++) {
      for (let i = 0; i < 40; i++) assert.ok(Object.is(got[k]![i], ref[k]![i]), `output ${k}[${i}]: ${got[k]![i]} vs cpu ${ref[k]![i]}`);
    }
  });
  for (const [a, b] of [
    [[2, 5, 7], [7]],
    [[7], [2, 5, 7]],
    [[6, 7], [1, 7]],
    [[3, 4], [3, 4]],
    [[24, 28, 28, 32], [32]],
    [[600011], [600011]],
    [[64, 1024], [1024]],
  ]) {
    test(`Add a${a} + b${b} (and gradients)`, () =>
      check(
        'Add',
        [spec(a!, 93), spec(b!, 94)],
        (x, y) => [tf.add(x!, y!), ...tf.grads((p: tf.Tensor, q: tf.Tensor) => weightedSum(tf.add(p, q), 95))([x!, y!])],
        [tf.Add],
      ));
  }
  test('Add with other broadcasts falls back and still matches cpu', async () => {
    const fn = (x?: tf.Tensor, y?: tf.Tensor) => [tf.add(x!, y!), tf.add(x!, tf.scalar(2))];
    const inputs = [spec([4, 5, 6], 96), spec([4, 1, 6], 97)];
    const ref = await runOn('cpu', inputs, fn);
    nativeKernelStats(true);
    const got = await runOn('wasm', inputs, fn);
    assert.equal(nativeKernelStats(true)[tf.Add]?.fallback, 2);
    for (let i = 0; i < ref.length; i++) assert.equal(relErr(got[i]!, ref[i]!), 0);
  });
  test('Identity and Cast to the same dtype share the buffer; the copy outlives the original', async () => {
    await tf.setBackend('wasm');
    const refCount = (t: tf.Tensor) => (tf.backend() as unknown as { refCount(d: object): number }).refCount(t.dataId);
    const x = tf.tensor(rand(50, 98), [5, 10]);
    const values = Float32Array.from(x.dataSync());
    nativeKernelStats(true);
    const c = tf.clone(x);
    const k = tf.cast(x, 'float32');
    const i = tf.cast(x, 'int32'); // a real conversion: the wasm kernel
    const stats = nativeKernelStats(true);
    assert.equal(stats[tf.Identity]?.native, 1);
    assert.equal(stats[tf.Cast]?.native, 1);
    assert.equal(stats[tf.Cast]?.fallback, 1);
    assert.equal(refCount(x), 3);
    x.dispose();
    assert.deepEqual(c.dataSync(), values);
    k.dispose();
    assert.deepEqual(c.dataSync(), values);
    assert.deepEqual(Array.from(i.dataSync()), Array.from(values, (v) => Math.trunc(v) | 0));
    tf.dispose([c, i]);
  });
  test('each element-wise kernel can be switched off and on again', async () => {
    const fn = (x?: tf.Tensor, b?: tf.Tensor) => tf.grads((p: tf.Tensor, q: tf.Tensor) => weightedSum(tf.max(tf.relu(tf.add(p, q)), 1), 99))([x!, b!]);
    const inputs = [spec([3, 8, 8, 4], 100), spec([4], 101)];
    const ref = await runOn('cpu', inputs, fn);
    const names = [tf.Relu, tf.Add, tf.Identity, tf.Cast, tf.Transpose, tf.Max, RELU_GRAD, MAX_GRAD];
    for (const n of names) setNativeKernelEnabled(n, false);
    nativeKernelStats(true);
    const off = await runOn('wasm', inputs, fn);
    const statsOff = nativeKernelStats(true);
    for (const n of names) setNativeKernelEnabled(n, true);
    for (const n of names) assert.equal(statsOff[n]?.native ?? 0, 0, `${n} ran natively while switched off`);
    await check('switched on again', inputs, fn, [tf.Relu, tf.Add, tf.Max, RELU_GRAD, MAX_GRAD]);
    for (let i = 0; i < ref.length; i++) assert.ok(relErr(off[i]!, ref[i]!) <= 1e-6);
  });
});
