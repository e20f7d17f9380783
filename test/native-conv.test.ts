/**
 * The native engine's kernels against the tfjs cpu backend (the reference): Convolutions (Conv2D, FusedConv2D and their gradients, on oneDNN and on advtrain's sparse and few-channel gradient kernels).
 * Skipped when the addon is not built, unless ADVTRAIN_REQUIRE_NATIVE=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { rand, relErr } from './helpers.js';
import { loaded, spec, runOn, check, weightedSum, nativeSuite, CONV_CASES, caseName, type ConvCase } from './native-harness.js';

nativeSuite('native convolution kernels equal the tfjs cpu kernels', () => {
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
  // advtrain's own gradient kernels are AVX-512 code: on other CPUs oneDNN takes every gradient
  // (the same checks against cpu then test that fallback), so the expected call counts are 0.
  const sparseOn = loaded.ok && loaded.addon.convGradStats().sparse.available;
  const fewOn = loaded.ok && loaded.addon.convGradStats().fewChannel.available;
  const onCpu = (n: number, on: boolean) => (on ? n : 0);

  for (const c of SPARSE_CASES) {
    test(`Conv2D gradients from a sparse dY (sparse kernels) ${caseName(c)}`, async () => {
      const before = sparseCalls();
      await check('Conv2D sparse grad', [spec(c.x, 3), spec(c.f, 4)], convGrads(c, 0.15), [tf.Conv2D, tf.Conv2DBackpropInput, tf.Conv2DBackpropFilter]);
      assert.equal(sparseCalls() - before, onCpu(2, sparseOn), 'the sparse kernels did not compute both gradients');
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
    assert.equal(sparseCalls() - before, onCpu(1, sparseOn), 'the filter gradient (finite inputs) should still be sparse, the input gradient not');
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
      assert.equal(fewCalls() - before, onCpu(1, fewOn), "advtrain's few-channel kernel did not compute the input gradient");
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
    assert.equal(fewCalls() - before, onCpu(1, fewOn));
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
});
