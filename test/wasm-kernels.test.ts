/**
 * advtrain's wasm training kernels against tfjs's cpu backend (the reference).
 *
 * Tolerance: every comparison uses the max-norm relative error
 *   max|wasm − cpu| / (max|cpu| + 1e-6) ≤ 1e-4
 * over the whole output (or the whole gradient of one weight).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { registerWasmTrainingKernels, WASM_TRAINING_KERNELS, isAdvtrainKernel } from '../src/engine/wasm-kernels/index.js';
import { buildZooModel } from '../src/model/zoo.js';

const TOL = 1e-4;

registerWasmTrainingKernels();
registerWasmTrainingKernels(); // idempotent
await tf.setBackend('wasm');

type Arr = Float32Array | Int32Array | Uint8Array;

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length mismatch');
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]);
    if (!(e <= d)) d = e; // also catches NaN
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / (m + 1e-6);
}

function assertClose(wasm: ArrayLike<number>, cpu: ArrayLike<number>, what: string): void {
  const e = relErr(wasm, cpu);
  assert.ok(e <= TOL, `${what}: relative error ${e.toExponential(2)} > ${TOL}`);
}

/** Runs `f` on cpu then on wasm; returns both results read back, plus shapes. */
async function onBoth(f: () => tf.Tensor | tf.Tensor[]): Promise<{ cpu: Arr[]; wasm: Arr[]; shapes: number[][] }> {
  const run = (): { data: Arr[]; shapes: number[][] } => {
    const out = f();
    const list = Array.isArray(out) ? out : [out];
    const data = list.map((t) => t.dataSync() as Arr);
    const shapes = list.map((t) => t.shape);
    tf.dispose(list);
    return { data, shapes };
  };
  await tf.setBackend('cpu');
  const c = run();
  await tf.setBackend('wasm');
  const w = run();
  assert.deepEqual(w.shapes, c.shapes);
  return { cpu: c.data, wasm: w.data, shapes: c.shapes };
}

async function compareKernel(name: string, inputs: () => tf.NamedTensorMap, attrs: tf.NamedAttrMap, what: string): Promise<void> {
  const { cpu, wasm } = await onBoth(() =>
    tf.tidy(() => tf.engine().runKernel(name, inputs(), attrs) as tf.Tensor));
  assertClose(wasm[0], cpu[0], `${name} ${what}`);
}

/** A deterministic random tensor whose values are fixed before any backend runs. */
function rnd(shape: number[], seed: number): () => tf.Tensor {
  const vals = tf.tidy(() => tf.randomNormal(shape, 0, 1, 'float32', seed).dataSync());
  return () => tf.tensor(vals, shape);
}

test('all kernels are registered on wasm and are advtrain\'s', async () => {
  await tf.setBackend('wasm');
  for (const k of WASM_TRAINING_KERNELS) assert.ok(isAdvtrainKernel(k), k);
  assert.ok(WASM_TRAINING_KERNELS.includes('Conv2DBackpropFilter'));
  assert.ok(WASM_TRAINING_KERNELS.includes('UnsortedSegmentSum'));
});

// [batch, h, w, cin, cout, kh, kw, stride, pad]
type ConvCase = [number, number, number, number, number, number, number, number | [number, number], tf.backend_util.ExplicitPadding | 'same' | 'valid' | number];
const CONV_CASES: ConvCase[] = [
  [2, 9, 9, 1, 4, 3, 3, 1, 'same'],
  [3, 8, 7, 3, 5, 3, 2, 2, 'same'],
  [1, 10, 10, 16, 8, 5, 5, 1, 'same'],
  [2, 11, 9, 9, 6, 4, 4, 2, 'same'],
  [2, 9, 9, 8, 4, 3, 3, 1, 'valid'],
  [2, 12, 10, 2, 3, 4, 3, 2, 'valid'],
  [1, 13, 13, 12, 4, 3, 3, [2, 1], 'valid'],
  [2, 7, 8, 10, 3, 3, 3, 1, 1],
  [2, 8, 8, 3, 4, 3, 3, 2, 2],
  [2, 9, 8, 8, 5, 3, 2, 1, [[0, 0], [1, 2], [0, 1], [0, 0]]],
  [1, 9, 8, 2, 5, 3, 3, 2, [[0, 0], [2, 0], [1, 3], [0, 0]]],
  [4, 1, 20, 16, 8, 1, 5, 1, 'valid'], // conv1d as used by text models
  [1, 6, 6, 8, 4, 6, 6, 1, 'valid'], // filter as large as the input
];

function convOutShape(c: ConvCase): number[] {
  const [b, h, w, cin, cout, kh, kw, s, pad] = c;
  const info = tf.backend_util.computeConv2DInfo([b, h, w, cin], [kh, kw, cin, cout], s, 1, pad, 'floor');
  return info.outShape;
}

test('Conv2DBackpropFilter matches cpu (shapes, strides, paddings)', async () => {
  let seed = 1;
  for (const c of CONV_CASES) {
    const [b, h, w, cin, cout, kh, kw, s, pad] = c;
    const x = rnd([b, h, w, cin], seed++);
    const dy = rnd(convOutShape(c), seed++);
    const attrs = { strides: s, pad, dataFormat: 'NHWC', dimRoundingMode: 'floor', filterShape: [kh, kw, cin, cout] } as unknown as tf.NamedAttrMap;
    await compareKernel('Conv2DBackpropFilter', () => ({ x: x(), dy: dy() }), attrs, JSON.stringify(c));
  }
});

test('Conv2DBackpropFilter with NCHW data matches cpu', async () => {
  const c: ConvCase = [2, 8, 8, 3, 4, 3, 3, 2, 'same'];
  const out = convOutShape(c);
  const x = rnd([2, 3, 8, 8], 7);
  const dy = rnd([out[0], out[3], out[1], out[2]], 8);
  const attrs = { strides: 2, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 3, 4] } as unknown as tf.NamedAttrMap;
  await compareKernel('Conv2DBackpropFilter', () => ({ x: x(), dy: dy() }), attrs, 'NCHW');
});

test('Conv2DBackpropInput matches cpu (both routes, strides, paddings)', async () => {
  let seed = 100;
  for (const c of CONV_CASES) {
    const [b, h, w, cin, cout, kh, kw, s, pad] = c;
    const f = rnd([kh, kw, cin, cout], seed++);
    const dy = rnd(convOutShape(c), seed++);
    const attrs = { strides: s, pad, dataFormat: 'NHWC', dimRoundingMode: 'floor', inputShape: [b, h, w, cin] } as unknown as tf.NamedAttrMap;
    await compareKernel('Conv2DBackpropInput', () => ({ dy: dy(), filter: f() }), attrs, JSON.stringify(c));
  }
});

test('Conv2DBackpropInput via conv2dTranspose and dilated forward conv gradients match cpu', async () => {
  // conv2dTranspose is the public op on this kernel.
  const x = rnd([2, 5, 5, 8], 11);
  const f = rnd([3, 3, 4, 8], 12);
  const { cpu, wasm } = await onBoth(() => tf.tidy(() => tf.conv2dTranspose(x() as tf.Tensor4D, f() as tf.Tensor4D, [2, 10, 10, 4], 2, 'same')));
  assertClose(wasm[0], cpu[0], 'conv2dTranspose');
  // Forward dilated conv (a wasm forward kernel) with the gradient w.r.t. x through depthwise-free path.
  const x2 = rnd([2, 9, 9, 3], 13);
  const f2 = rnd([3, 3, 3, 4], 14);
  const r = await onBoth(() => tf.tidy(() => tf.conv2d(x2() as tf.Tensor4D, f2() as tf.Tensor4D, 1, 'same', 'NHWC', 2)));
  assertClose(r.wasm[0], r.cpu[0], 'dilated conv2d forward');
});

test('MaxPoolGrad matches cpu, ties included', async () => {
  const cases: Array<[number[], number | [number, number], number | [number, number], 'same' | 'valid' | number]> = [
    [[2, 8, 8, 3], 2, 2, 'valid'],
    [[2, 9, 7, 4], 2, 2, 'same'],
    [[1, 9, 9, 5], 3, 2, 'same'],
    [[2, 10, 10, 2], 3, 1, 'valid'],
    [[1, 7, 8, 3], [3, 2], [2, 1], 'same'],
    [[2, 8, 8, 2], 3, 2, 1],
  ];
  let seed = 200;
  for (const [shape, fs, s, pad] of cases) {
    for (const ties of [false, true]) {
      const base = rnd(shape, seed++);
      // With ties: values rounded to a coarse grid so many windows hold equal maxima.
      const x = ties ? () => tf.tidy(() => tf.round(base())) : base;
      const rounding = typeof pad === 'number' ? 'floor' : undefined;
      const outShape = tf.backend_util.computePool2DInfo(shape as [number, number, number, number], fs as [number, number], s as [number, number], 1, pad, rounding).outShape;
      const dy = rnd(outShape, seed++);
      const { cpu, wasm } = await onBoth(() => tf.tidy(() => {
        const xi = x() as tf.Tensor4D;
        const y = tf.maxPool(xi, fs, s, pad, rounding);
        return tf.engine().runKernel('MaxPoolGrad', { dy: dy(), input: xi, output: y },
          { filterSize: fs, strides: s, pad, dimRoundingMode: rounding } as unknown as tf.NamedAttrMap) as tf.Tensor;
      }));
      assertClose(wasm[0], cpu[0], `MaxPoolGrad ${JSON.stringify([shape, fs, s, pad, ties])}`);
    }
  }
});

test('UnsortedSegmentSum matches cpu (x of rank 1–3, repeated and out-of-range ids)', async () => {
  const cases: Array<[number[], number[], number]> = [
    [[12, 5], [12], 7],
    [[6, 4, 3], [6], 4],
    [[10], [10], 3],
  ];
  let seed = 300;
  for (const [xs, is, n] of cases) {
    const x = rnd(xs, seed++);
    const size = is.reduce((a, b) => a * b, 1);
    const ids = Int32Array.from({ length: size }, (_, i) => ((i * 7 + seed) % (n + 2)) - 1); // includes -1 and n
    const { cpu, wasm } = await onBoth(() => tf.tidy(() => tf.unsortedSegmentSum(x(), tf.tensor1d(ids, 'int32'), n)));
    assertClose(wasm[0], cpu[0], `UnsortedSegmentSum ${JSON.stringify([xs, is, n])}`);
  }
});

test('BatchMatMul with transposes matches cpu (ranks 2–3, broadcast, every rewrite)', async () => {
  // [aShape, bShape, transposeA, transposeB]
  const cases: Array<[number[], number[], boolean, boolean]> = [
    [[7, 5], [7, 9], true, false],
    [[60, 5], [60, 3], true, false], // A large: rewrite via (Bᵀ·A)ᵀ
    [[5, 7], [9, 7], false, true],
    [[3, 50], [40, 50], false, true], // B large
    [[7, 5], [9, 7], true, true],
    [[40, 30], [2, 40], true, true],
    [[3, 6, 4], [3, 6, 5], true, false],
    [[2, 4, 6], [2, 5, 6], false, true],
    [[1, 6, 4], [3, 5, 6], true, true], // broadcast batch
    [[4, 6], [3, 5, 6], false, true],
    [[3, 4], [4, 5], false, false],
  ];
  let seed = 400;
  for (const [as, bs, ta, tb] of cases) {
    const a = rnd(as, seed++);
    const b = rnd(bs, seed++);
    const { cpu, wasm } = await onBoth(() => tf.tidy(() => tf.matMul(a(), b(), ta, tb)));
    assertClose(wasm[0], cpu[0], `matMul ${JSON.stringify([as, bs, ta, tb])}`);
  }
});

test('GatherV2 matches cpu (axis 0 fast path, other axes, bad indices)', async () => {
  const table = rnd([50, 6], 500);
  const idx1 = Int32Array.from({ length: 30 }, (_, i) => (i * 17) % 50);
  for (const [ishape, axis] of [[[30], 0], [[5, 6], 0], [[30], 1]] as Array<[number[], number]>) {
    const idx = axis === 0 ? idx1 : Int32Array.from({ length: 30 }, (_, i) => i % 6);
    const { cpu, wasm } = await onBoth(() => tf.tidy(() => tf.gather(table(), tf.tensor(idx, ishape, 'int32'), axis)));
    assertClose(wasm[0], cpu[0], `gather ${JSON.stringify([ishape, axis])}`);
  }
  const intTable = Int32Array.from({ length: 20 }, (_, i) => i * 3);
  const r = await onBoth(() => tf.tidy(() => tf.gather(tf.tensor(intTable, [10, 2], 'int32'), tf.tensor([3, 0, 9], [3], 'int32'))));
  assert.deepEqual(Array.from(r.wasm[0]), Array.from(r.cpu[0]));
  await tf.setBackend('wasm');
  const before = tf.memory().numTensors;
  assert.throws(() => tf.tidy(() => tf.gather(table(), tf.tensor([1, 50], [2], 'int32'))), /not in \[0, 49\]/);
  assert.equal(tf.memory().numTensors, before);
});

test('GatherV2 with batchDims matches cpu exactly (the l1 projection\'s per-row gather, which tfjs-backend-wasm reads out of bounds)', async () => {
  // [13, 784] and [20, 784] are the shapes of the L1 attacks that crashed on MNIST.
  const cases: Array<{ x: number[]; idx: number[]; axis: number; batchDims: number }> = [
    { x: [13, 784], idx: [13], axis: 1, batchDims: 1 },
    { x: [20, 784], idx: [20], axis: 1, batchDims: 1 },
    { x: [3, 5, 3], idx: [3, 2], axis: 1, batchDims: 1 },
    { x: [3, 5, 3], idx: [3, 4], axis: 2, batchDims: 1 },
    { x: [2, 3, 4, 5], idx: [2, 3, 6], axis: 2, batchDims: 2 },
    { x: [2, 3, 4, 5], idx: [2, 7], axis: 3, batchDims: 1 },
  ];
  let seed = 520;
  for (const c of cases) {
    const x = rnd(c.x, seed++);
    const dim = c.x[c.axis]!;
    const idx = Int32Array.from({ length: tf.util.sizeFromShape(c.idx) }, (_, i) => (i * 7919 + 3) % dim);
    const what = `gather ${JSON.stringify(c)}`;
    const { cpu, wasm, shapes } = await onBoth(() => tf.tidy(() => tf.gather(x(), tf.tensor(idx, c.idx, 'int32'), c.axis, c.batchDims)));
    assert.deepEqual(Array.from(wasm[0]!), Array.from(cpu[0]!), what);
    assert.ok(shapes[0]!.length > 0, what);
    const ints = await onBoth(() => tf.tidy(() => tf.gather(tf.cast(tf.mul(x(), 1000), 'int32'), tf.tensor(idx, c.idx, 'int32'), c.axis, c.batchDims)));
    assert.deepEqual(Array.from(ints.wasm[0]!), Array.from(ints.cpu[0]!), `${what} int32`);
  }
  assert.ok(isAdvtrainKernel(tf.GatherV2));
  await tf.setBackend('wasm');
  const before = tf.memory().numTensors;
  assert.throws(() => tf.tidy(() => tf.gather(tf.ones([2, 4]), tf.tensor1d([1, 4], 'int32'), 1, 1)), /the index value 4 is not in \[0, 3\]/);
  assert.equal(tf.memory().numTensors, before);
});

test('Equal matches cpu exactly (broadcasts of every kind, ties, dtypes)', async () => {
  // Values on a coarse grid so that equal elements actually occur.
  const grid = (shape: number[], seed: number, dtype: 'float32' | 'int32' = 'float32') => () =>
    tf.tidy(() => tf.cast(tf.floor(tf.randomUniform(shape, 0, 3, 'float32', seed)), dtype));
  const cases: Array<[number[], number[]]> = [
    [[64, 96, 128], [64, 1, 128]], // global max pooling 1-D: the reduced axis kept
    [[4, 5, 6], [1, 1, 6]],
    [[4, 5, 6], [4, 5, 1]],
    [[7], []],
    [[3, 1, 5], [1, 4, 1]], // both sides broadcast
    [[2, 3, 4, 5], [3, 1, 5]], // lower rank
    [[6, 6], [6, 6]], // same shape: the original kernel
    [[0, 3], [1, 3]], // empty
  ];
  let seed = 900;
  for (const [as, bs] of cases) {
    const a = grid(as, seed++);
    const b = grid(bs, seed++);
    const { cpu, wasm } = await onBoth(() => tf.tidy(() => tf.equal(a(), b())));
    assert.deepEqual(Array.from(wasm[0]), Array.from(cpu[0]), `equal ${JSON.stringify([as, bs])}`);
  }
  const r = await onBoth(() => tf.tidy(() => tf.equal(grid([5, 4], 1, 'int32')(), grid([4], 2, 'int32')())));
  assert.deepEqual(Array.from(r.wasm[0]), Array.from(r.cpu[0]), 'int32');
  const m = await onBoth(() => tf.tidy(() => tf.grad((x: tf.Tensor) => tf.max(x, 1))(grid([8, 20, 3], 3)())));
  assert.deepEqual(Array.from(m.wasm[0]), Array.from(m.cpu[0]), 'gradient of max with ties');
});

/** Gradient of the mean softmax cross-entropy w.r.t. all trainable weights and (optionally) x. */
function lossGrads(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor, wrtInput: boolean): tf.Tensor[] {
  return tf.tidy(() => {
    const weights = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const f = (...args: tf.Tensor[]) => {
      const xin = wrtInput ? args[args.length - 1] : x;
      const logits = model.apply(xin, { training: false }) as tf.Tensor;
      return tf.losses.softmaxCrossEntropy(y, logits);
    };
    // tf.grads over the weights' current values: reading variables through apply() gives their
    // gradient only via variableGrads, so use it and add the input as an extra variable.
    const xv = wrtInput ? tf.variable(x, true, undefined, 'float32') : null;
    const { grads } = tf.variableGrads(() => f(...(xv ? [xv] : [])) as tf.Scalar, [...weights, ...(xv ? [xv] : [])]);
    const out = model.trainableWeights.map((w) => grads[(w.read() as tf.Variable).name]);
    if (xv) {
      out.push(grads[xv.name]);
      xv.dispose();
    }
    return out;
  });
}

function imageBatch(n: number, seed: number): { x: () => tf.Tensor; y: () => tf.Tensor } {
  const xs = tf.tidy(() => tf.randomUniform([n, 28, 28, 1], 0, 1, 'float32', seed).dataSync());
  const labels = Int32Array.from({ length: n }, (_, i) => (i * 3 + seed) % 10);
  return { x: () => tf.tensor(xs, [n, 28, 28, 1]), y: () => tf.oneHot(tf.tensor(labels, [n], 'int32'), 10) };
}

for (const name of ['mnist-small', 'madry-cnn', 'trades-smallcnn', 'mlp']) {
  test(`whole gradient of ${name} (weights and input) matches cpu`, async () => {
    await tf.setBackend('wasm');
    const model = buildZooModel(name, { inputShape: [28, 28, 1], numClasses: 10, seed: 3 });
    const { x, y } = imageBatch(2, 5); // cpu's Conv2DBackpropFilter is slow: keep the batch small
    const { cpu, wasm } = await onBoth(() => tf.tidy(() => lossGrads(model, x(), y(), true)));
    const names = [...model.trainableWeights.map((w) => w.name), 'input'];
    names.forEach((n, i) => assertClose(wasm[i], cpu[i], `${name} d/d${n}`));
    model.dispose();
  });
}

function textCnn(): tfl.Sequential {
  return tfl.sequential({
    layers: [
      tfl.layers.embedding({ inputDim: 20000, outputDim: 64, inputLength: 100, embeddingsInitializer: tfl.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: 1 }) }),
      tfl.layers.conv1d({ filters: 64, kernelSize: 5, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
      tfl.layers.globalMaxPooling1d(),
      tfl.layers.dense({ units: 2, kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }),
    ],
  });
}

/**
 * A reference UnsortedSegmentSum for the cpu backend, written straight from the definition.
 * tfjs's own cpu kernel runs 4 kernels per segment (O(numSegments × size)): ~70 s for a
 * 20,000-row table. This loop is checked against that cpu kernel below on small cases.
 */
function referenceSegmentSum({ inputs, attrs, backend }: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown }): tf.TensorInfo {
  const x = inputs.x as tf.TensorInfo;
  const ids = inputs.segmentIds as tf.TensorInfo;
  const n = (attrs as unknown as { numSegments: number }).numSegments;
  const be = backend as { readSync(id: object): Float32Array | Int32Array; makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo };
  const xv = be.readSync(x.dataId);
  const iv = be.readSync(ids.dataId);
  const inner = xv.length / iv.length;
  const out = new Float32Array(n * inner);
  iv.forEach((s, i) => {
    if (s >= 0 && s < n) for (let j = 0; j < inner; j++) out[s * inner + j] += xv[i * inner + j];
  });
  return be.makeTensorInfo([n, ...x.shape.slice(1)], 'float32', out);
}

async function withCpuSegmentSum<T>(kernel: tf.KernelFunc, f: () => Promise<T>): Promise<T> {
  const original = tf.getKernel('UnsortedSegmentSum', 'cpu');
  assert.ok(original);
  tf.unregisterKernel('UnsortedSegmentSum', 'cpu');
  tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName: 'cpu', kernelFunc: kernel });
  try {
    return await f();
  } finally {
    tf.unregisterKernel('UnsortedSegmentSum', 'cpu');
    tf.registerKernel(original);
  }
}

test('the test\'s reference segment sum equals tfjs cpu\'s kernel', async () => {
  const x = rnd([40, 6], 600);
  const ids = Int32Array.from({ length: 40 }, (_, i) => ((i * 13) % 31) - 1);
  await tf.setBackend('cpu');
  const want = tf.tidy(() => tf.unsortedSegmentSum(x(), tf.tensor1d(ids, 'int32'), 29).dataSync());
  const got = await withCpuSegmentSum(referenceSegmentSum as unknown as tf.KernelFunc, async () =>
    tf.tidy(() => tf.unsortedSegmentSum(x(), tf.tensor1d(ids, 'int32'), 29).dataSync()));
  assertClose(got, want, 'reference segment sum');
  await tf.setBackend('wasm');
});

test('whole gradient of a text CNN (embedding 20000×64 → conv1d → max → dense) matches cpu', async () => {
  await tf.setBackend('wasm');
  const model = textCnn();
  const n = 4;
  const tokens = Int32Array.from({ length: n * 100 }, (_, i) => (i * 7919 + (i % 13) * 31) % 20000);
  tokens[5] = tokens[6] = tokens[150] = tokens[399] = 42; // repeated tokens must add up
  const x = () => tf.tensor(tokens, [n, 100], 'int32');
  const y = () => tf.oneHot(tf.tensor([0, 1, 1, 0], [n], 'int32'), 2);
  const { cpu, wasm } = await withCpuSegmentSum(referenceSegmentSum as unknown as tf.KernelFunc, () =>
    onBoth(() => tf.tidy(() => lossGrads(model, x(), y(), false))));
  model.trainableWeights.forEach((w, i) => assertClose(wasm[i], cpu[i], `text CNN d/d${w.name}`));
  model.dispose();
});

test('a training step (forward, backward, Adam) leaks no tensors on wasm', async () => {
  await tf.setBackend('wasm');
  for (const build of [() => buildZooModel('madry-cnn', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 }),
    () => buildZooModel('mnist-small', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 }), textCnn]) {
    const model = build();
    const isText = model.inputs[0].shape.length === 2;
    const x = isText ? tf.tensor(Int32Array.from({ length: 200 }, (_, i) => (i * 37) % 20000), [2, 100], 'int32') : tf.randomUniform([2, 28, 28, 1]);
    const y = tf.oneHot(tf.tensor([0, 1], [2], 'int32'), isText ? 2 : 10);
    const opt = tf.train.adam(1e-3);
    const step = () => tf.dispose(opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, true) ?? []);
    step(); // creates Adam's slots
    const before = tf.memory().numTensors;
    step();
    step();
    assert.equal(tf.memory().numTensors, before, `${model.name}: tensors leaked`);
    opt.dispose();
    tf.dispose([x, y]);
    model.dispose();
  }
});
