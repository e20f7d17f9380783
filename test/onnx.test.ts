import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/engine/backend.js';
import { loadOnnxClassifier } from '../src/model/onnx.js';
import { fromFunction } from '../src/model/classifier.js';
import { lpThreat } from '../src/threat/threat-model.js';
import { SquareAttack } from '../src/attacks/square.js';
import { HopSkipJump } from '../src/attacks/hopskipjump.js';
import { UserError } from '../src/errors.js';
import { Rng } from '../src/data/rng.js';
import { encodeOnnxModel } from './fixtures/onnx-writer.js';
import { linearClassifier, norms } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'advtrain-onnx-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** Writes a Flatten → Gemm (→ Softmax) model: input [batch, ...inShape], weights [in, k], bias [k]. */
function linearOnnx(name: string, inShape: number[], w: number[], b: number[], opts: { softmax?: boolean; batch?: number | string } = {}): string {
  const k = b.length;
  const d = inShape.reduce((a, v) => a * v, 1);
  const nodes = [
    { op: 'Flatten', inputs: ['input'], outputs: ['flat'], attributes: { axis: 1 } },
    { op: 'Gemm', inputs: ['flat', 'W', 'B'], outputs: [opts.softmax ? 'z' : 'scores'] },
  ];
  if (opts.softmax) nodes.push({ op: 'Softmax', inputs: ['z'], outputs: ['scores'], attributes: { axis: 1 } });
  const bytes = encodeOnnxModel({
    inputs: [{ name: 'input', shape: [opts.batch ?? 'N', ...inShape] }],
    outputs: [{ name: 'scores', shape: [opts.batch ?? 'N', k] }],
    initializers: [
      { name: 'W', dims: [d, k], values: w },
      { name: 'B', dims: [k], values: b },
    ],
    nodes,
  });
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

const rng = new Rng(1);
const H = 3;
const Wd = 4;
const C = 2;
const K = 3;
const D = H * Wd * C;
const weights = Array.from({ length: D * K }, () => rng.next() * 2 - 1);
const bias = [0.1, -0.2, 0.3];

/** The TF.js twin of the NCHW ONNX model: transpose NHWC → NCHW, flatten, x·W + b. */
function tfTwin() {
  const wt = tf.keep(tf.tensor2d(weights, [D, K]));
  const bt = tf.keep(tf.tensor1d(bias));
  return fromFunction((x) => tf.tidy(() => tf.add(tf.matMul(tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [x.shape[0]!, D]), wt), bt)), {
    inputShape: [H, Wd, C],
    numClasses: K,
    domain: { lower: 0, upper: 1 },
  });
}

test('an NCHW linear ONNX model gives the logits of its TF.js twin (NHWC in), also with a fixed batch of 1 and as probabilities', async () => {
  await selectBackend('cpu');
  const twin = tfTwin();
  const x = tf.randomUniform([5, H, Wd, C], 0, 1, 'float32', 7);
  const want = twin.logits(x);
  const opts = { inputShape: [H, Wd, C], numClasses: K, domain: { lower: 0, upper: 1 }, layout: 'nchw' as const };
  const before = tf.memory().numTensors;

  const onnx = await loadOnnxClassifier(linearOnnx('nchw.onnx', [C, H, Wd], weights, bias), opts);
  assert.deepEqual(onnx.modelInputShape, ['N', C, H, Wd]);
  assert.equal(onnx.inputName, 'input');
  const got = onnx.logits(x);
  assert.deepEqual(got.shape, [5, K]);
  const err = tf.tidy(() => tf.max(tf.abs(tf.sub(got, want))).dataSync()[0]!);
  assert.ok(err < 1e-5, `max |onnx − tfjs| = ${err}`);

  const fixed = await loadOnnxClassifier(linearOnnx('fixed.onnx', [C, H, Wd], weights, bias, { batch: 1 }), opts);
  const got1 = fixed.logits(x);
  assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(got1, want))).dataSync()[0]!) < 1e-5, 'fixed batch of 1: run in chunks');

  const probs = await loadOnnxClassifier(linearOnnx('softmax.onnx', [C, H, Wd], weights, bias, { softmax: true }), { ...opts, output: 'probabilities' });
  const gotP = probs.logits(x);
  const errP = tf.tidy(() => tf.max(tf.abs(tf.sub(gotP, tf.logSoftmax(want)))).dataSync()[0]!);
  assert.ok(errP < 1e-5, `probabilities are adapted to log-probabilities (err ${errP})`);

  tf.dispose([got, got1, gotP]);
  assert.equal(tf.memory().numTensors, before, 'logits() leaks nothing');
  for (const c of [onnx, fixed, probs]) c.dispose();
  assert.throws(() => onnx.logits(x), /disposed/);
  tf.dispose([x, want]);
});

test('ONNX loading errors are one-line UserErrors', async () => {
  const isUser = (re: RegExp) => (e: unknown) => e instanceof UserError && re.test(e.message) && !e.message.includes('\n');
  const base = { inputShape: [H, Wd, C], numClasses: K, domain: { lower: 0, upper: 1 }, layout: 'nchw' as const };
  const path = linearOnnx('errs.onnx', [C, H, Wd], weights, bias);
  await assert.rejects(loadOnnxClassifier(join(dir, 'missing.onnx'), base), isUser(/not found: .*missing\.onnx/));
  // Shape mismatches: wrong size, and NHWC where the model is NCHW.
  await assert.rejects(loadOnnxClassifier(path, { ...base, inputShape: [5, 5, 1] }), isUser(/expects input 'input' of shape \[N, 2, 3, 4\]/));
  await assert.rejects(loadOnnxClassifier(path, { ...base, layout: 'nhwc' }), isUser(/layout/));
  await assert.rejects(loadOnnxClassifier(path, { ...base, numClasses: 4 }), isUser(/outputs 3 classes/));
  await assert.rejects(loadOnnxClassifier(path, { ...base, inputName: 'pixels' }), isUser(/no input 'pixels'.*input/));
  const junk = join(dir, 'junk.onnx');
  writeFileSync(junk, 'this is not a model');
  await assert.rejects(loadOnnxClassifier(junk, base), isUser(/cannot read ONNX model/));
  const clf = await loadOnnxClassifier(path, base);
  const wrong = tf.zeros([2, 4, 3, 2]);
  assert.throws(() => clf.logits(wrong), isUser(/\[b, 3, 4, 2\]/));
  wrong.dispose();
  clf.dispose();
});

test('Square and HopSkipJump break a linear ONNX model as they break its TF.js twin', async () => {
  await selectBackend('cpu');
  const w = [0.5, -1.5, 2.0, 0.25, -0.75, 1.0, 0.1, -0.3, 0.6, 1.2];
  // Two classes: logits [w·x, 0], like test/helpers.ts's linearClassifier.
  const path = linearOnnx('binary.onnx', [10], w.flatMap((v) => [v, 0]), [0, 0]);
  const domain = { lower: -5, upper: 5 };
  const onnx = await loadOnnxClassifier(path, { inputShape: [10], numClasses: 2, domain });
  const { clf: twin, f } = linearClassifier(w, 0, 5);
  const xs = [
    [1, 0, 1, 0, 0, 0, 0, 0, 0, 0],
    [0.2, -0.4, 0.3, 1, 0.5, 0.1, -0.2, 0.3, 0, 0.4],
  ];
  const x = tf.tensor2d(xs);
  const y = tf.tensor1d([0, 0], 'int32');
  const before = tf.memory().numTensors;
  for (const [norm, dualNorm] of [['linf', norms.l1], ['l2', norms.l2]] as const) {
    const eps = (1.5 * Math.max(...xs.map((v) => Math.abs(f(v))))) / dualNorm(w);
    const threat = lpThreat(norm, eps);
    for (const atk of [new SquareAttack({ maxQueries: 2000 }), new HopSkipJump({ maxQueries: 2000 })]) {
      const a = await atk.run(onnx, x, y, { threat, seed: 1 });
      const b = await atk.run(twin, x, y, { threat, seed: 1 });
      assert.deepEqual(Array.from(a.success), [1, 1], `${atk.name} ${threat} against ONNX (queries ${a.queries})`);
      assert.deepEqual(Array.from(b.success), [1, 1], `${atk.name} ${threat} against TF.js`);
      for (const dd of a.distance) assert.ok(dd <= eps + 1e-6);
      const pred = tf.tidy(() => tf.argMax(twin.logits(a.xAdv), 1).dataSync());
      assert.deepEqual(Array.from(pred), [1, 1], 'the ONNX adversarial points fool the TF.js twin too');
      tf.dispose([a.xAdv, b.xAdv]);
    }
  }
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, y]);
  onnx.dispose();
});
