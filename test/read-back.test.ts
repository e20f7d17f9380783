/** readBack (src/engine/read-back.ts): a tensor's values on the host, with it and its intermediates freed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readBack } from '../src/engine/read-back.js';

test('readBack gives the values of the tensor its function makes and frees every tensor it made', async () => {
  await tf.setBackend('cpu');
  const x = tf.tensor2d([[1, 5, 2], [7, 0, 3]]);
  const before = tf.memory().numTensors;
  const pred = readBack(() => tf.argMax(tf.mul(x, 2), 1));
  assert.deepEqual(Array.from(pred), [1, 0]);
  assert.ok(pred instanceof Int32Array);
  const big = readBack(() => tf.fill([30000], 0.5));
  assert.equal(big.length, 30000);
  assert.equal(big[29999], 0.5);
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
  x.dispose();
});
