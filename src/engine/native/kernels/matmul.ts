/** BatchMatMul and _FusedMatMul (+ bias, + relu) on oneDNN. */
import * as tf from '@tensorflow/tfjs-core';
import { activationOk, biasOk, fallback, host, isF32, off, runNative, type KernelArgs } from './context.js';

export function matMulKernel(name: string) {
  return (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { a, b: bm, bias, preluActivationWeights } = args.inputs as tf._FusedMatMulInputs;
    const attrs = args.attrs as unknown as tf._FusedMatMulAttrs;
    const { transposeA, transposeB } = attrs;
    const activation = name === tf._FusedMatMul ? attrs.activation : undefined;
    if (!isF32(a, bm) || a.shape.length < 2 || bm.shape.length < 2) return fallback(name, args, 'not float32 rank>=2');
    if (preluActivationWeights != null || !activationOk(activation)) return fallback(name, args, `activation ${activation}`);
    const ra = a.shape.length;
    const rb = bm.shape.length;
    const M = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
    const K = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
    const Kb = transposeB ? bm.shape[rb - 1]! : bm.shape[rb - 2]!;
    const N = transposeB ? bm.shape[rb - 2]! : bm.shape[rb - 1]!;
    if (K !== Kb) return fallback(name, args, 'inner dimensions differ');
    if (!biasOk(bias ?? undefined, N)) return fallback(name, args, 'bias shape');
    const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), bm.shape.slice(0, -2));
    const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
    const batchB = tf.util.sizeFromShape(bm.shape.slice(0, -2));
    const batch = tf.util.sizeFromShape(outer);
    if (batch !== Math.max(batchA, batchB) || (batchA !== batchB && batchA !== 1 && batchB !== 1)) {
      return fallback(name, args, 'batch broadcast');
    }
    if (M === 0 || N === 0 || K === 0 || batch === 0) return fallback(name, args, 'empty tensor');
    const b = host(args);
    const out = b.makeOutput([...outer, M, N], 'float32');
    return runNative(name, args, out, (heap, addon) =>
      addon.matMul(
        heap,
        off(b, a),
        off(b, bm),
        bias != null ? off(b, bias) : -1,
        off(b, out),
        batchA,
        batchB,
        M,
        K,
        N,
        transposeA ? 1 : 0,
        transposeB ? 1 : 0,
        activation === 'relu' ? 1 : 0,
      ),
    );
  };
}
