/**
 * The harness of the native kernel tests (test/native-*.test.ts): inputs fixed before any backend
 * runs, `check` (a computation on wasm with the native kernels equals it on cpu, and the named
 * kernels ran natively) and `nativeSuite`, which registers the native engine around a suite.
 * A suite is skipped when the addon is not built, unless ADVTRAIN_REQUIRE_NATIVE=1 (CI), where it
 * fails instead.
 */
import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers the gradient functions
import { loadNativeAddon, registerNativeKernels, unregisterNativeKernels, nativeKernelStats } from '../src/engine/native/index.js';
import { registerWasmTrainingKernels } from '../src/engine/wasm-kernels/index.js';
import { relErr, rand } from './helpers.js';


export const loaded = loadNativeAddon();
// CI sets ADVTRAIN_REQUIRE_NATIVE=1 so that a missing addon fails instead of skipping.
const required = process.env.ADVTRAIN_REQUIRE_NATIVE === '1';
export const skip = loaded.ok || required ? false : `native engine unavailable: ${loaded.reason}`;

export type Spec = { shape: number[]; values: Float32Array };
export const spec = (shape: number[], seed: number, lo = -1, hi = 1): Spec => ({ shape, values: rand(tf.util.sizeFromShape(shape), seed, lo, hi) });

/** Runs `fn` on the named backend with fresh tensors made from `inputs`; returns the outputs' values. */
export async function runOn(backend: 'cpu' | 'wasm', inputs: Spec[], fn: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const outs = tf.tidy(() => {
    const xs = inputs.map((s) => tf.tensor(s.values, s.shape, 'float32'));
    const r = fn(...xs);
    return Array.isArray(r) ? r : [r];
  });
  const values = outs.map((t) => t.dataSync() as Float32Array);
  tf.dispose(outs);
  assert.equal(tf.memory().numTensors, before, `${backend}: tensors leaked`);
  return values;
}

/** `fn` on wasm (with the native kernels) equals `fn` on cpu within `tol`, and `kernels` ran natively. */
export async function check(label: string, inputs: Spec[], fn: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[], kernels: string[], tol = 1e-4): Promise<void> {
  const ref = await runOn('cpu', inputs, fn);
  nativeKernelStats(true);
  const got = await runOn('wasm', inputs, fn);
  const stats = nativeKernelStats(true);
  for (const k of kernels) {
    assert.ok((stats[k]?.native ?? 0) > 0, `${label}: ${k} did not run natively (${JSON.stringify(stats[k] ?? {})})`);
    assert.equal(stats[k]?.fallback ?? 0, 0, `${label}: ${k} fell back: ${stats[k]?.lastFallback}`);
  }
  assert.equal(got.length, ref.length);
  for (let i = 0; i < ref.length; i++) {
    const e = relErr(got[i]!, ref[i]!);
    assert.ok(e <= tol, `${label}: output ${i} differs from cpu by ${e.toExponential(2)} (relative)`);
  }
}

/** A weighted sum of `y`, so every output element gets its own upstream gradient. */
export function weightedSum(y: tf.Tensor, seed: number): tf.Scalar {
  return tf.sum(tf.mul(y, tf.tensor(rand(y.size, seed), y.shape))) as tf.Scalar;
}

export type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
export interface ConvCase {
  x: number[];
  f: number[];
  strides: number | [number, number];
  pad: Pad;
  dil?: number | [number, number];
  round?: 'floor' | 'round' | 'ceil';
}

export const CONV_CASES: ConvCase[] = [
  { x: [2, 9, 9, 3], f: [3, 3, 3, 4], strides: 1, pad: 'same' },
  { x: [3, 10, 7, 2], f: [2, 3, 2, 5], strides: [2, 1], pad: 'valid' },
  { x: [2, 28, 28, 1], f: [4, 4, 1, 16], strides: 2, pad: 'same' },
  { x: [4, 28, 28, 1], f: [5, 5, 1, 8], strides: 1, pad: 'same' },
  { x: [2, 14, 14, 8], f: [5, 5, 8, 16], strides: 1, pad: 'same' },
  { x: [2, 10, 10, 3], f: [2, 2, 3, 4], strides: 3, pad: 'valid' },
  { x: [2, 11, 9, 3], f: [3, 3, 3, 6], strides: 2, pad: 'same' },
  { x: [2, 8, 9, 2], f: [3, 2, 2, 3], strides: [1, 2], pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { x: [2, 9, 9, 2], f: [3, 3, 2, 3], strides: 2, pad: 1, round: 'ceil' },
  { x: [2, 10, 10, 2], f: [3, 3, 2, 3], strides: 2, pad: 1, round: 'round' },
  { x: [1, 12, 12, 3], f: [1, 1, 3, 7], strides: 1, pad: 'valid' },
  // more than 4 input channels: oneDNN's kernels rather than the small-channel GEMM path
  { x: [2, 11, 9, 6], f: [3, 3, 6, 5], strides: 2, pad: 'same' },
  { x: [2, 8, 9, 5], f: [3, 2, 5, 3], strides: [1, 2], pad: [[0, 0], [2, 1], [1, 0], [0, 0]] },
  { x: [2, 10, 10, 6], f: [2, 2, 6, 4], strides: 3, pad: 'valid' },
  { x: [2, 12, 11, 3], f: [3, 3, 3, 4], strides: 1, pad: 'same', dil: 2 },
  { x: [2, 12, 11, 3], f: [3, 2, 3, 4], strides: 1, pad: 'valid', dil: [2, 3] },
];
export const caseName = (c: ConvCase) => `x${c.x} f${c.f} s${c.strides} p${JSON.stringify(c.pad)}${c.dil ? ` d${c.dil}` : ''}${c.round ? ` ${c.round}` : ''}`;

/** A suite of native kernel tests, with the native engine registered on wasm around it. */
export function nativeSuite(name: string, body: () => void): void {
  describe(name, { skip }, () => {
    before(async () => {
      assert.ok(loaded.ok, loaded.ok ? '' : `ADVTRAIN_REQUIRE_NATIVE=1 but ${loaded.reason}`);
      // As the native engine does: the wasm training kernels first, so that fallbacks reach them
      // (UnsortedSegmentSum has no wasm kernel of tfjs's own).
      registerWasmTrainingKernels();
      // The embedding kernels split over threads from 64K floats here (16M by default), so that the
      // cases below marked "split over threads" run the multithreaded path.
      process.env.ADVTRAIN_NATIVE_EMBEDDING_PARALLEL_MIN = '65536';
      await tf.setBackend('wasm');
      await tf.ready();
      const r = registerNativeKernels(2);
      assert.ok(r.ok, r.ok ? '' : r.reason);
    });
    after(() => {
      unregisterNativeKernels();
      delete process.env.ADVTRAIN_NATIVE_EMBEDDING_PARALLEL_MIN;
    });
    body();
  });
}
