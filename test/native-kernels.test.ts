/**
 * The native engine's kernels against the tfjs cpu backend (the reference): Whole stacks, fallbacks, wasm memory growth and leaks, and (un)registration.
 * Skipped when the addon is not built, unless ADVTRAIN_REQUIRE_NATIVE=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { nativeKernelStats, registerNativeKernels, unregisterNativeKernels, NATIVE_KERNELS } from '../src/engine/native/index.js';
import { rand, relErr } from './helpers.js';
import { loaded, spec, runOn, check, weightedSum, nativeSuite } from './native-harness.js';

nativeSuite('native kernels equal the tfjs cpu kernels', () => {
  test("madry-cnn-like stack: forward and all gradients (behind ReLU and pooling, on advtrain's own gradient kernels)", async () => {
    const before = loaded.ok ? loaded.addon.convGradStats() : undefined;
    await check(
      'stack',
      [spec([8, 28, 28, 1], 40, 0, 1), spec([5, 5, 1, 32], 41, -0.2, 0.2), spec([32], 42, -0.1, 0.1), spec([5, 5, 32, 64], 43, -0.05, 0.05), spec([64], 44, -0.1, 0.1), spec([3136, 64], 45, -0.03, 0.03), spec([64], 46, -0.1, 0.1)],
      (x, w1, b1, w2, b2, w3, b3) =>
        tf.grads((xx: tf.Tensor, a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor, e: tf.Tensor, g: tf.Tensor) => {
          let h: tf.Tensor = tf.fused.conv2d({ x: xx as tf.Tensor4D, filter: a as tf.Tensor4D, strides: 1, pad: 'same', bias: b, activation: 'relu' });
          h = tf.maxPool(h as tf.Tensor4D, 2, 2, 'valid');
          h = tf.fused.conv2d({ x: h as tf.Tensor4D, filter: c as tf.Tensor4D, strides: 1, pad: 'same', bias: d, activation: 'relu' });
          h = tf.maxPool(h as tf.Tensor4D, 2, 2, 'valid');
          h = tf.fused.matMul({ a: tf.reshape(h, [8, 3136]), b: e, bias: g, activation: 'relu' });
          return weightedSum(h, 47);
        })([x!, w1!, b1!, w2!, b2!, w3!, b3!]),
      [tf.Conv2D, tf.Conv2DBackpropInput, tf.Conv2DBackpropFilter, tf.MaxPool, tf.MaxPoolGrad, tf.BatchMatMul],
    );
    const after = loaded.ok ? loaded.addon.convGradStats() : undefined;
    // The second convolution's input and filter gradients (its dY is sparse), the first's input gradient.
    // (Both are AVX-512 code; elsewhere oneDNN takes every gradient and no call is expected.)
    assert.equal(after!.sparse.calls - before!.sparse.calls, after!.sparse.available ? 2 : 0, 'the sparse kernels did not take the second convolution');
    assert.equal(after!.fewChannel.calls - before!.fewChannel.calls, after!.fewChannel.available ? 1 : 0, 'the few-channel kernel did not take the first input gradient');
  });

  test('unsupported cases fall back to the previous kernel and still match cpu', async () => {
    const inputs = [spec([2, 9, 9, 3], 50), spec([3, 3, 3, 4], 51), spec([4], 52)];
    const fn = (x?: tf.Tensor, f?: tf.Tensor, b?: tf.Tensor) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: f as tf.Tensor4D, strides: 1, pad: 'same', bias: b, activation: 'elu' });
    const ref = await runOn('cpu', inputs, fn);
    nativeKernelStats(true);
    const got = await runOn('wasm', inputs, fn);
    const stats = nativeKernelStats(true);
    assert.equal(stats[tf.FusedConv2D]?.fallback, 1);
    assert.ok(relErr(got[0]!, ref[0]!) <= 1e-4);
  });

  test('an output that grows the wasm memory is still written in the right place', async () => {
    await tf.setBackend('wasm');
    const heap = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer.byteLength;
    const before = heap();
    const n = Math.ceil(Math.sqrt(before / 4)) + 512; // an n x n output is larger than the whole heap
    await check('growth', [spec([n, 1], 80), spec([1, n], 81)], (a, b) => tf.matMul(a!, b!), [tf.BatchMatMul]);
    assert.ok(heap() > before, 'the wasm memory did not grow');
  });

  test('no wasm memory leaks: data buffers come back to the same count', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor(rand(2 * 9 * 9 * 3, 60), [2, 9, 9, 3]) as tf.Tensor4D;
    const f = tf.tensor(rand(3 * 3 * 3 * 4, 61), [3, 3, 3, 4]) as tf.Tensor4D;
    const step = () => tf.tidy(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.maxPool(tf.relu(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')) as tf.Tensor4D, 2, 2, 'same')))([x, f]).forEach((t) => t.dataSync()));
    step();
    const before = tf.memory();
    for (let i = 0; i < 5; i++) step();
    const now = tf.memory();
    assert.equal(now.numTensors, before.numTensors);
    assert.equal(now.numDataBuffers, before.numDataBuffers);
    tf.dispose([x, f]);
  });

  test('unregisterNativeKernels puts back exactly the previous kernels, and registering again works', () => {
    const mine = NATIVE_KERNELS.map((n) => tf.getKernel(n, 'wasm'));
    unregisterNativeKernels();
    const restored = NATIVE_KERNELS.map((n) => tf.getKernel(n, 'wasm'));
    for (let i = 0; i < NATIVE_KERNELS.length; i++) assert.notEqual(restored[i], mine[i], NATIVE_KERNELS[i]);
    const again = registerNativeKernels(2);
    assert.ok(again.ok);
    unregisterNativeKernels();
    assert.deepEqual(NATIVE_KERNELS.map((n) => tf.getKernel(n, 'wasm')), restored);
    assert.ok(registerNativeKernels(2).ok);
  });
});
