/**
 * The native engine's kernels against the tfjs cpu backend (the reference): forward and gradient,
 * on random inputs of varied shapes, strides, paddings and dilations. Skipped as a whole when the
 * addon is not built.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers the gradient functions
import {
  loadNativeAddon,
  registerNativeKernels,
  unregisterNativeKernels,
  nativeKernelStats,
  setNativeKernelEnabled,
  NATIVE_KERNELS,
  RELU_GRAD,
  MAX_GRAD,
} from '../src/engine/native/index.js';
import { registerWasmTrainingKernels } from '../src/engine/wasm-kernels/index.js';
import { relErr, rand } from './helpers.js';

const loaded = loadNativeAddon();
// CI sets ADVTRAIN_REQUIRE_NATIVE=1 so that a missing addon fails instead of skipping.
const required = process.env.ADVTRAIN_REQUIRE_NATIVE === '1';
const skip = loaded.ok || required ? false : `native engine unavailable: ${loaded.reason}`;

type Spec = { shape: number[]; values: Float32Array };
const spec = (shape: number[], seed: number, lo = -1, hi = 1): Spec => ({ shape, values: rand(tf.util.sizeFromShape(shape), seed, lo, hi) });

/** Runs `fn` on the named backend with fresh tensors made from `inputs`; returns the outputs' values. */
async function runOn(backend: 'cpu' | 'wasm', inputs: Spec[], fn: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
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
async function check(label: string, inputs: Spec[], fn: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[], kernels: string[], tol = 1e-4): Promise<void> {
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
function weightedSum(y: tf.Tensor, seed: number): tf.Scalar {
  return tf.sum(tf.mul(y, tf.tensor(rand(y.size, seed), y.shape))) as tf.Scalar;
}

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
interface ConvCase {
  x: number[];
  f: number[];
  strides: number | [number, number];
  pad: Pad;
  dil?: number | [number, number];
  round?: 'floor' | 'round' | 'ceil';
}

const CONV_CASES: ConvCase[] = [
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
const caseName = (c: ConvCase) => `x${c.x} f${c.f} s${c.strides} p${JSON.stringify(c.pad)}${c.dil ? ` d${c.dil}` : ''}${c.round ? ` ${c.round}` : ''}`;

describe('native kernels equal the tfjs cpu kernels', { skip }, () => {
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

  for (const c of CONV_CASES) {
    test(`Conv2D ${caseName(c)}`, () =>
      check('Conv2D', [spec(c.x, 1), spec(c.f, 2)], (x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.strides, c.pad, 'NHWC', c.dil ?? 1, c.round), [tf.Conv2D]));
  }

  // tfjs's conv2d gradient supports no dilation and drops dimRoundingMode (its own limitation).
  for (const c of CONV_CASES.filter((c) => c.dil === undefined && c.round !== 'round')) {
    test(`Conv2D gradients (BackpropInput, BackpropFilter) ${caseName(c)}`, () =>
      check(
        'Conv2D grad',
        [spec(c.x, 3), spec(c.f, 4)],
        (x, f) => tf.grads((a: tf.Tensor, b: tf.Tensor) => weightedSum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad, 'NHWC', 1, c.round), 5))([x!, f!]),
        [tf.Conv2D, tf.Conv2DBackpropInput, tf.Conv2DBackpropFilter],
      ));
  }

  // Small weight gradients run on one thread; this puts them on all threads, as big ones run.
  test('Conv2DBackpropFilter on all threads (as above 256 MFLOP) equals cpu too', async () => {
    await runOn('wasm', [spec([2, 9, 9, 3], 14), spec([3, 3, 3, 4], 18)], (x, f) => tf.grad((b: tf.Tensor) => tf.sum(tf.conv2d(x as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')))(f!));
    assert.equal(loaded.ok && loaded.addon.getThreads(), 2, 'a one-thread weight gradient did not give the threads back');
    process.env.ADVTRAIN_NATIVE_CBF_SERIAL_FLOPS = '0';
    try {
      for (const c of [CONV_CASES[0]!, CONV_CASES[2]!, CONV_CASES[7]!, CONV_CASES[11]!]) {
        await check(
          `Conv2DBackpropFilter all threads ${caseName(c)}`,
          [spec(c.x, 15), spec(c.f, 16)],
          (x, f) => tf.grad((b: tf.Tensor) => weightedSum(tf.conv2d(x as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad), 17))(f!),
          [tf.Conv2DBackpropFilter],
        );
      }
    } finally {
      delete process.env.ADVTRAIN_NATIVE_CBF_SERIAL_FLOPS;
    }
  });

  // Behind ReLU and max pooling most of a convolution's dY is zero; sparse kernels then compute
  // both gradients (stride 1, dilation 1, 5x5 or 3x3, input channels a multiple of 16).
  const SPARSE_CASES: ConvCase[] = [
    { x: [3, 14, 14, 32], f: [5, 5, 32, 20], strides: 1, pad: 'same' },
    { x: [2, 9, 8, 48], f: [3, 3, 48, 17], strides: 1, pad: 'valid' },
    { x: [2, 7, 6, 16], f: [5, 5, 16, 33], strides: 1, pad: [[0, 0], [1, 3], [2, 0], [0, 0]] },
    { x: [1, 6, 6, 64], f: [3, 3, 64, 8], strides: 1, pad: 'same' },
  ];
  /** A weighted sum of `y` whose weights are zero but for a share `density` of its elements: a sparse dY. */
  function sparseWeightedSum(y: tf.Tensor, seed: number, density: number): tf.Scalar {
    const w = rand(y.size, seed);
    const keep = rand(y.size, seed + 1, 0, 1);
    for (let i = 0; i < w.length; i++) if (keep[i]! >= density) w[i] = 0;
    return tf.sum(tf.mul(y, tf.tensor(w, y.shape))) as tf.Scalar;
  }
  /** conv2d(x, f) of case c summed with random weights: all nonzero, or a share `density` of them (a sparse dY). */
  const convLoss = (c: ConvCase, density?: number) => (a: tf.Tensor, b: tf.Tensor) => {
    const y = tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad);
    return density === undefined ? weightedSum(y, 5) : sparseWeightedSum(y, 5, density);
  };
  /** Input and filter gradients of `convLoss`. */
  const convGrads = (c: ConvCase, density?: number) => (x: tf.Tensor | undefined, f: tf.Tensor | undefined) => tf.grads(convLoss(c, density))([x!, f!]);
  /** The input gradient of `convLoss`. */
  const inputGrad = (c: ConvCase, density?: number) => (x: tf.Tensor | undefined, f: tf.Tensor | undefined) =>
    tf.grad((a: tf.Tensor) => convLoss(c, density)(a, f!))(x!);
  /** Runs `fn` with the environment variable `name` set to `value`, then unsets it. */
  async function withEnv(name: string, value: string, fn: () => Promise<void>): Promise<void> {
    process.env[name] = value;
    try {
      await fn();
    } finally {
      delete process.env[name];
    }
  }
  /** `got` has NaN and ±Inf exactly where `ref` has them, and its finite values equal ref's within 1e-4. */
  function sameWithNonFinite(label: string, got: Float32Array, ref: Float32Array): void {
    const kind = (a: Float32Array) => Array.from(a, (v) => (Number.isNaN(v) ? 'nan' : Number.isFinite(v) ? 'finite' : String(v)));
    assert.deepEqual(kind(got), kind(ref), `${label}: NaN or ±Inf differ from cpu`);
    const finite = (a: Float32Array) => a.map((v) => (Number.isFinite(v) ? v : 0));
    assert.ok(relErr(finite(got), finite(ref)) <= 1e-4, `${label}: finite values differ from cpu`);
  }
  const sparseCalls = () => (loaded.ok ? loaded.addon.convGradStats().sparse.calls : 0);
  const fewCalls = () => (loaded.ok ? loaded.addon.convGradStats().fewChannel.calls : 0);

  for (const c of SPARSE_CASES) {
    test(`Conv2D gradients from a sparse dY (sparse kernels) ${caseName(c)}`, async () => {
      const before = sparseCalls();
      await check('Conv2D sparse grad', [spec(c.x, 3), spec(c.f, 4)], convGrads(c, 0.15), [tf.Conv2D, tf.Conv2DBackpropInput, tf.Conv2DBackpropFilter]);
      assert.equal(sparseCalls() - before, 2, 'the sparse kernels did not compute both gradients');
    });
  }

  test('a dense dY, or ADVTRAIN_NATIVE_SPARSE_GRAD_DENSITY=0, leaves the convolution gradients to oneDNN', async () => {
    const c = SPARSE_CASES[0]!;
    const before = sparseCalls();
    await check('Conv2D dense grad', [spec(c.x, 3), spec(c.f, 4)], convGrads(c, 0.6), [tf.Conv2DBackpropInput, tf.Conv2DBackpropFilter]);
    assert.equal(sparseCalls(), before, 'a 60%-dense dY went to the sparse kernels');
    await withEnv('ADVTRAIN_NATIVE_SPARSE_GRAD_DENSITY', '0', () =>
      check('Conv2D grad, sparse kernels off', [spec(c.x, 3), spec(c.f, 4)], convGrads(c, 0.15), [tf.Conv2DBackpropInput, tf.Conv2DBackpropFilter]),
    );
    assert.equal(sparseCalls(), before, 'ADVTRAIN_NATIVE_SPARSE_GRAD_DENSITY=0 did not turn the sparse kernels off');
  });

  test('a non-finite weight sends the input gradient to oneDNN: 0 × Inf stays NaN, as on cpu', async () => {
    const c = SPARSE_CASES[0]!;
    const f = spec(c.f, 4);
    f.values[7] = Infinity;
    const ref = await runOn('cpu', [spec(c.x, 3), f], convGrads(c, 0.15));
    const before = sparseCalls();
    const got = await runOn('wasm', [spec(c.x, 3), f], convGrads(c, 0.15));
    assert.equal(sparseCalls() - before, 1, 'the filter gradient (finite inputs) should still be sparse, the input gradient not');
    assert.ok(ref[0]!.some(Number.isNaN), 'the reference input gradient has no NaN: the case does not test 0 × Inf');
    ref.forEach((r, i) => sameWithNonFinite(`output ${i}`, got[i]!, r));
  });

  // Few input channels (a first layer): the input gradient runs on advtrain's own kernel.
  const FEW_CASES: ConvCase[] = [
    { x: [3, 28, 28, 1], f: [5, 5, 1, 32], strides: 1, pad: 'same' }, // madry-cnn's first layer: 25 taps, 2 vectors
    { x: [2, 28, 28, 1], f: [4, 4, 1, 16], strides: 2, pad: 'same' }, // mnist-small's
    { x: [2, 13, 11, 3], f: [5, 5, 3, 7], strides: 1, pad: 'valid' }, // colour: 75 taps, rows straddle vectors
    { x: [2, 12, 12, 2], f: [7, 7, 2, 5], strides: 3, pad: [[0, 0], [2, 1], [0, 3], [0, 0]] }, // 98 taps
    { x: [1, 9, 9, 4], f: [3, 3, 4, 18], strides: 2, pad: 'same' }, // 36 taps, 18 output channels
  ];

  for (const c of FEW_CASES) {
    test(`Conv2DBackpropInput with few input channels (advtrain's kernel) ${caseName(c)}`, async () => {
      const before = fewCalls();
      await check('Conv2DBackpropInput few channels', [spec(c.x, 3), spec(c.f, 4)], inputGrad(c), [tf.Conv2DBackpropInput]);
      assert.equal(fewCalls() - before, 1, "advtrain's few-channel kernel did not compute the input gradient");
    });
  }

  test('more than 128 taps, or ADVTRAIN_NATIVE_FEW_CHANNEL_GRAD=0, leave a few-channel input gradient to the GEMM path', async () => {
    const big: ConvCase = { x: [2, 12, 12, 2], f: [9, 9, 2, 3], strides: 1, pad: 'same' };
    const before = fewCalls();
    await check('Conv2DBackpropInput 162 taps', [spec(big.x, 3), spec(big.f, 4)], inputGrad(big), [tf.Conv2DBackpropInput]);
    assert.equal(fewCalls(), before, '162 taps went to the few-channel kernel');
    const c = FEW_CASES[0]!;
    await withEnv('ADVTRAIN_NATIVE_FEW_CHANNEL_GRAD', '0', () =>
      check('Conv2DBackpropInput few channels off', [spec(c.x, 3), spec(c.f, 4)], inputGrad(c), [tf.Conv2DBackpropInput]),
    );
    assert.equal(fewCalls(), before, 'ADVTRAIN_NATIVE_FEW_CHANNEL_GRAD=0 did not turn the kernel off');
  });

  test('a non-finite weight gives the few-channel input gradient the NaNs and ±Infs it has on cpu', async () => {
    const c = FEW_CASES[0]!;
    const f = spec(c.f, 4);
    f.values[3] = -Infinity;
    // A sparse upstream gradient, so that 0 × -Inf (NaN) happens beside -Inf × y (±Inf).
    const ref = await runOn('cpu', [spec(c.x, 3), f], inputGrad(c, 0.15));
    const before = fewCalls();
    const got = await runOn('wasm', [spec(c.x, 3), f], inputGrad(c, 0.15));
    assert.equal(fewCalls() - before, 1);
    assert.ok(ref[0]!.some(Number.isNaN) && ref[0]!.some((v) => Math.abs(v) === Infinity), 'the reference lacks NaN or ±Inf: the case does not test them');
    sameWithNonFinite('input gradient', got[0]!, ref[0]!);
  });

  for (const activation of ['relu', 'linear'] as const) {
    for (const c of [CONV_CASES[0]!, CONV_CASES[2]!, CONV_CASES[4]!, CONV_CASES[7]!, CONV_CASES[11]!]) {
      test(`FusedConv2D bias+${activation} ${caseName(c)}`, () =>
        check(
          'FusedConv2D',
          [spec(c.x, 6), spec(c.f, 7), spec([c.f[3]!], 8)],
          (x, f, b) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: f as tf.Tensor4D, strides: c.strides, pad: c.pad, dilations: c.dil ?? 1, bias: b, activation }),
          [tf.FusedConv2D],
        ));
    }
    for (const c of [CONV_CASES[0]!, CONV_CASES[3]!, CONV_CASES[6]!]) {
      test(`FusedConv2D bias+${activation} gradients ${caseName(c)}`, () =>
        check(
          'FusedConv2D grad',
          [spec(c.x, 9), spec(c.f, 10), spec([c.f[3]!], 11)],
          (x, f, b) =>
            tf.grads((xx: tf.Tensor, ff: tf.Tensor, bb: tf.Tensor) =>
              weightedSum(tf.fused.conv2d({ x: xx as tf.Tensor4D, filter: ff as tf.Tensor4D, strides: c.strides, pad: c.pad, bias: bb, activation }), 12),
            )([x!, f!, b!]),
          // Under a gradient tape tfjs fuses only 'linear': relu runs as Conv2D + Add + Relu.
          [activation === 'linear' ? tf.FusedConv2D : tf.Conv2D, tf.Conv2DBackpropInput, tf.Conv2DBackpropFilter],
        ));
    }
  }

  test('FusedConv2D without bias', () =>
    check('FusedConv2D nobias', [spec([2, 9, 9, 3], 13), spec([3, 3, 3, 4], 14)], (x, f) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: f as tf.Tensor4D, strides: 1, pad: 'same', activation: 'relu' }), [tf.FusedConv2D]));

  const MM: { a: number[]; b: number[]; tA: boolean; tB: boolean }[] = [
    { a: [5, 7], b: [7, 3], tA: false, tB: false },
    { a: [7, 5], b: [7, 3], tA: true, tB: false },
    { a: [5, 7], b: [3, 7], tA: false, tB: true },
    { a: [7, 5], b: [3, 7], tA: true, tB: true },
    { a: [64, 300], b: [300, 128], tA: false, tB: false },
    { a: [64, 128], b: [300, 128], tA: false, tB: true },
    { a: [64, 300], b: [64, 128], tA: true, tB: false },
    { a: [2, 5, 7], b: [2, 7, 3], tA: false, tB: false },
    { a: [3, 7, 5], b: [3, 4, 7], tA: true, tB: true },
    { a: [1, 5, 7], b: [3, 7, 4], tA: false, tB: false },
    { a: [3, 5, 7], b: [7, 4], tA: false, tB: false },
    { a: [2, 3, 5, 7], b: [2, 3, 7, 2], tA: false, tB: false },
  ];
  for (const m of MM) {
    const label = `a${m.a}${m.tA ? 'ᵀ' : ''} b${m.b}${m.tB ? 'ᵀ' : ''}`;
    test(`BatchMatMul ${label}`, () => check('BatchMatMul', [spec(m.a, 20), spec(m.b, 21)], (a, b) => tf.matMul(a!, b!, m.tA, m.tB), [tf.BatchMatMul]));
    // tfjs's BatchMatMul gradient does not reduce broadcast batch dimensions (its own limitation).
    const broadcast = tf.util.sizeFromShape(m.a.slice(0, -2)) !== tf.util.sizeFromShape(m.b.slice(0, -2));
    if (!broadcast) test(`BatchMatMul gradients ${label}`, () =>
      check('BatchMatMul grad', [spec(m.a, 22), spec(m.b, 23)], (a, b) => tf.grads((x: tf.Tensor, y: tf.Tensor) => weightedSum(tf.matMul(x, y, m.tA, m.tB), 24))([a!, b!]), [tf.BatchMatMul]));
  }
  for (const activation of ['relu', 'linear'] as const) {
    for (const m of [MM[0]!, MM[3]!, MM[4]!, MM[7]!]) {
      const n = m.tB ? m.b[m.b.length - 2]! : m.b[m.b.length - 1]!;
      test(`_FusedMatMul bias+${activation} a${m.a} b${m.b} tA=${m.tA} tB=${m.tB} (and gradients)`, () =>
        check(
          '_FusedMatMul',
          [spec(m.a, 25), spec(m.b, 26), spec([n], 27)],
          (a, b, bias) => {
            const f = (x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) => tf.fused.matMul({ a: x, b: y, transposeA: m.tA, transposeB: m.tB, bias: z, activation });
            return [f(a!, b!, bias!), ...tf.grads((x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) => weightedSum(f(x, y, z), 28))([a!, b!, bias!])];
          },
          [tf._FusedMatMul, tf.BatchMatMul],
        ));
    }
  }

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
  test('Sum over other axes falls back and still matches cpu', async () => {
    const fn = (x?: tf.Tensor) => [tf.sum(x!, 1), tf.sum(x!), tf.sum(x!, -1, true)];
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
    assert.equal(after!.sparse.calls - before!.sparse.calls, 2, 'the sparse kernels did not take the second convolution');
    assert.equal(after!.fewChannel.calls - before!.fewChannel.calls, 1, 'the few-channel kernel did not take the first input gradient');
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
