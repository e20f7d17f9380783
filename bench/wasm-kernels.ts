/**
 * Benchmarks advtrain's wasm training kernels against tfjs-backend-wasm's own kernels on
 * model-sized shapes, then the examples/s of a full training step (forward, backward, Adam;
 * batch 64) with advtrain's kernels and with the original ones where wasm had them.
 *
 *   node build/bench/wasm-kernels.js [--quick]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { registerWasmTrainingKernels, useOriginalWasmKernels, replacedWasmKernels } from '../src/engine/wasm-kernels/index.js';
import { buildZooModel } from '../src/model/zoo.js';

const quick = process.argv.includes('--quick');
const REPS = quick ? 3 : 7;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** Median wall time (ms) of f, which returns tensors that are read back and disposed. */
function time(f: () => tf.Tensor | tf.Tensor[], reps = REPS): number {
  for (let i = 0; i < 2; i++) tf.dispose(f());
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const r = f();
    (Array.isArray(r) ? r : [r]).forEach((t) => t.dataSync());
    ts.push(performance.now() - t0);
    tf.dispose(r);
  }
  return median(ts);
}

function run(name: string, inputs: tf.NamedTensorMap, attrs: object): () => tf.Tensor {
  return () => tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
}

function row(label: string, orig: number | null, ours: number): void {
  const o = orig === null ? '   (missing)' : `${orig.toFixed(2).padStart(9)} ms`;
  const sp = orig === null ? '' : `  ×${(orig / ours).toFixed(1)}`;
  console.log(`  ${label.padEnd(44)} original ${o}   advtrain ${ours.toFixed(2).padStart(8)} ms${sp}`);
}

/** Times a kernel with the original (where it exists) and with advtrain's. */
function compare(label: string, f: () => tf.Tensor, hasOriginal: boolean): void {
  let orig: number | null = null;
  if (hasOriginal) {
    useOriginalWasmKernels(true);
    orig = time(f);
    useOriginalWasmKernels(false);
  }
  row(label, orig, time(f));
}

// [label, batch, h, w, cin, cout, kh, kw, stride, pad]
const CONVS: Array<[string, number, number, number, number, number, number, number, number, 'same' | 'valid']> = [
  ['madry conv1 28²×1→32 k5', 64, 28, 28, 1, 32, 5, 5, 1, 'same'],
  ['madry conv2 14²×32→64 k5', 64, 14, 14, 32, 64, 5, 5, 1, 'same'],
  ['mnist-small conv1 28²×1→16 k4 s2', 64, 28, 28, 1, 16, 4, 4, 2, 'same'],
  ['mnist-small conv2 14²×16→32 k4 s2', 64, 14, 14, 16, 32, 4, 4, 2, 'same'],
  ['trades conv1 28²×1→32 k3', 64, 28, 28, 1, 32, 3, 3, 1, 'valid'],
  ['trades conv2 26²×32→32 k3', 64, 26, 26, 32, 32, 3, 3, 1, 'valid'],
  ['trades conv4 11²×64→64 k3', 64, 11, 11, 64, 64, 3, 3, 1, 'valid'],
  ['text conv1d 100×64→64 k5', 64, 1, 100, 64, 64, 1, 5, 1, 'valid'],
];

function trainStepRate(model: tfl.LayersModel, batch: number, reps: number): number {
  const x = tf.randomUniform([batch, 28, 28, 1]);
  const y = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32') as tf.Tensor1D, 10);
  const opt = tf.train.adam(1e-3);
  const step = () => {
    const loss = opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, true);
    loss?.dataSync();
    tf.dispose(loss ?? []);
  };
  for (let i = 0; i < 2; i++) step();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    step();
    ts.push(performance.now() - t0);
  }
  opt.dispose();
  tf.dispose([x, y]);
  return batch / (median(ts) / 1000);
}

async function main(): Promise<void> {
  registerWasmTrainingKernels();
  await tf.setBackend('wasm');
  await tf.ready();
  const replaced = new Set(replacedWasmKernels());
  console.log(`wasm backend, SIMD ${String(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'))}, threads ${String(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'))}; median of ${REPS}`);
  console.log(`replaced kernels: ${[...replaced].join(', ')}`);

  console.log('\nConv2DBackpropFilter (dW) and Conv2DBackpropInput (dx):');
  for (const [label, b, h, w, cin, cout, kh, kw, s, pad] of CONVS) {
    const x = tf.randomNormal([b, h, w, cin]);
    const f = tf.randomNormal([kh, kw, cin, cout]);
    const dy = tf.tidy(() => tf.randomNormal(tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, s, pad).shape));
    compare(`dW ${label}`, run('Conv2DBackpropFilter', { x, dy }, { strides: s, pad, dataFormat: 'NHWC', filterShape: [kh, kw, cin, cout] }), false);
    compare(`dx ${label}`, run('Conv2DBackpropInput', { dy, filter: f }, { strides: s, pad, dataFormat: 'NHWC', inputShape: [b, h, w, cin] }), true);
    const fwd = time(() => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, s, pad));
    console.log(`  ${''.padEnd(44)} (forward conv2d for scale: ${fwd.toFixed(2)} ms)`);
    tf.dispose([x, f, dy]);
  }

  console.log('\nMaxPoolGrad (2×2, stride 2):');
  for (const [label, shape] of [['madry pool1', [64, 28, 28, 32]], ['madry pool2', [64, 14, 14, 64]], ['trades pool1', [64, 24, 24, 32]]] as Array<[string, number[]]>) {
    const x = tf.randomNormal(shape);
    const y = tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid');
    const dy = tf.randomNormal(y.shape);
    compare(`${label} ${shape.join('×')}`, run('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: 2, strides: 2, pad: 'valid' }), true);
    tf.dispose([x, y, dy]);
  }

  console.log('\nBatchMatMul with transposes (dense-layer gradients, batch 64):');
  for (const [label, m, k, n] of [['madry fc1 3136→1024', 64, 3136, 1024], ['mnist-small fc1 1568→100', 64, 1568, 100], ['mlp fc1 784→256', 64, 784, 256], ['madry fc2 1024→10', 64, 1024, 10]] as Array<[string, number, number, number]>) {
    const xIn = tf.randomNormal([m, k]);
    const wt = tf.randomNormal([k, n]);
    const dy = tf.randomNormal([m, n]);
    compare(`${label} dW = xᵀ·dy (transposeA)`, run('BatchMatMul', { a: xIn, b: dy }, { transposeA: true, transposeB: false }), true);
    compare(`${label} dx = dy·Wᵀ (transposeB)`, run('BatchMatMul', { a: dy, b: wt }, { transposeA: false, transposeB: true }), true);
    tf.dispose([xIn, wt, dy]);
  }

  console.log('\nGatherV2 and UnsortedSegmentSum (embedding 20000×64, batch 64×100 tokens):');
  {
    const table = tf.randomNormal([20000, 64]);
    const idx = tf.randomUniform([64, 100], 0, 20000, 'int32');
    compare('GatherV2 forward look-up', run('GatherV2', { x: table, indices: idx }, { axis: 0, batchDims: 0 }), true);
    const g = tf.randomNormal([6400, 64]);
    const ids = tf.reshape(idx, [6400]);
    compare('UnsortedSegmentSum (embedding gradient)', run('UnsortedSegmentSum', { x: g, segmentIds: ids }, { numSegments: 20000 }), false);
    tf.dispose([table, idx, g, ids]);
  }

  console.log('\nTraining step (forward + backward + Adam), batch 64, examples/s (median):');
  for (const name of ['madry-cnn', 'mnist-small', 'trades-smallcnn', 'mlp']) {
    const model = buildZooModel(name, { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    useOriginalWasmKernels(true);
    const orig = trainStepRate(model, 64, quick ? 3 : 5);
    useOriginalWasmKernels(false);
    const ours = trainStepRate(model, 64, quick ? 3 : 5);
    console.log(`  ${name.padEnd(16)} original kernels (+ advtrain's missing ones) ${orig.toFixed(0).padStart(6)} ex/s   advtrain ${ours.toFixed(0).padStart(6)} ex/s  ×${(ours / orig).toFixed(1)}`);
    model.dispose();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
