/**
 * The native engine's kernels against the tfjs cpu backend (the reference): MaxPool, AvgPool and their gradients.
 * Skipped when the addon is not built, unless ADVTRAIN_REQUIRE_NATIVE=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { rand } from './helpers.js';
import type { PoolGeometry } from '../src/engine/native/addon.js';
import { loaded, skip, spec, check, weightedSum, nativeSuite } from './native-harness.js';

nativeSuite('native pooling kernels equal the tfjs cpu kernels', () => {
  const POOL: { x: number[]; size: number | [number, number]; strides: number | [number, number]; pad: 'same' | 'valid' | number; round?: 'floor' | 'round' | 'ceil' }[] = [
    { x: [2, 8, 8, 3], size: 2, strides: 2, pad: 'valid' },
    { x: [2, 28, 28, 32], size: 2, strides: 2, pad: 'valid' },
    { x: [2, 9, 9, 3], size: 3, strides: 2, pad: 'same' },
    { x: [2, 7, 8, 4], size: 3, strides: 1, pad: 'same' },
    { x: [1, 7, 9, 2], size: [2, 3], strides: [2, 1], pad: 'valid' },
    { x: [2, 9, 9, 2], size: 3, strides: 2, pad: 1, round: 'ceil' },
    { x: [2, 5, 5, 3], size: 2, strides: 2, pad: 'valid' },
    { x: [2, 7, 7, 3], size: 2, strides: 2, pad: 'same' },
    { x: [2, 8, 8, 3], size: 2, strides: 3, pad: 'valid' },
  ];
  for (const p of POOL) {
    const label = `x${p.x} k${p.size} s${p.strides} p${p.pad}${p.round ? ` ${p.round}` : ''}`;
    test(`MaxPool and MaxPoolGrad ${label}`, () =>
      check(
        'MaxPool',
        [spec(p.x, 30)],
        (x) => {
          const f = (t: tf.Tensor) => tf.maxPool(t as tf.Tensor4D, p.size, p.strides, p.pad, p.round);
          return [f(x!), tf.grad((t: tf.Tensor) => weightedSum(f(t), 31))(x!)];
        },
        [tf.MaxPool, tf.MaxPoolGrad],
      ));
  }
  for (const p of POOL) {
    const label = `x${p.x} k${p.size} s${p.strides} p${p.pad}${p.round ? ` ${p.round}` : ''}`;
    test(`AvgPool${p.round ? '' : ' and AvgPoolGrad'} ${label}`, () =>
      check(
        'AvgPool',
        [spec(p.x, 34)],
        (x) => {
          const f = (t: tf.Tensor) => tf.avgPool(t as tf.Tensor4D, p.size, p.strides, p.pad, p.round);
          // tfjs's AvgPoolGrad drops dimRoundingMode (its own limitation): no gradient check there.
          return p.round ? f(x!) : [f(x!), tf.grad((t: tf.Tensor) => weightedSum(f(t), 35))(x!)];
        },
        p.round ? [tf.AvgPool] : [tf.AvgPool, tf.AvgPoolGrad],
      ));
  }
  test('MaxPoolGrad with ties sends the gradient to the first maximum, as cpu does', () =>
    check(
      'MaxPool ties',
      [{ shape: [2, 6, 6, 3], values: rand(2 * 6 * 6 * 3, 32, 0, 3).map(Math.floor) }],
      (x) => tf.grad((t: tf.Tensor) => weightedSum(tf.maxPool(t as tf.Tensor4D, 3, 1, 'same'), 33))(x!),
      [tf.MaxPoolGrad],
    ));
});

test('the addon\'s pooling functions take a PoolGeometry and name the field that is missing', { skip }, () => {
  const addon = loaded.ok ? loaded.addon : undefined;
  assert.ok(addon, 'ADVTRAIN_REQUIRE_NATIVE=1 but the addon is not built');
  const heap = new Uint8Array(4096);
  const x = new Float32Array(heap.buffer, 0, 16);
  x.set(Array.from({ length: 16 }, (_, i) => i));
  const geometry: PoolGeometry = { batch: 1, inHeight: 4, inWidth: 4, channels: 1, filterHeight: 2, filterWidth: 2, outHeight: 2, outWidth: 2, strideHeight: 2, strideWidth: 2, padTop: 0, padLeft: 0 };
  addon.maxPool(heap, 0, 1024, geometry);
  assert.deepEqual(Array.from(new Float32Array(heap.buffer, 1024, 4)), [5, 7, 13, 15]);
  const { padLeft: _, ...partial } = geometry;
  assert.throws(() => addon.maxPool(heap, 0, 1024, partial as PoolGeometry), { message: "advtrain native: argument 3 must be an object with a number 'padLeft'" });
  // The old calling convention (twelve positional numbers) is refused, not misread.
  assert.throws(() => (addon.avgPool as (...a: unknown[]) => void)(heap, 0, 1024, 1, 4, 4, 1, 2, 2, 2, 2, 2, 2, 0, 0), /argument 3 must be an object with a number 'batch'/);
});
