/**
 * The native engine's kernels against the tfjs cpu backend (the reference): BatchMatMul and _FusedMatMul (+ bias, + relu) and their gradients.
 * Skipped when the addon is not built, unless ADVTRAIN_REQUIRE_NATIVE=1.
 */
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { spec, check, weightedSum, nativeSuite } from './native-harness.js';

nativeSuite('native matmul kernels equal the tfjs cpu kernels', () => {
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
});
