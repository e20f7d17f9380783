import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/engine/backend.js';
import { loadDataset } from '../src/data/index.js';
import { subset, toTensors, batches } from '../src/data/batching.js';
import { buildZooModel } from '../src/model/zoo.js';
import { fromLayersModel, type LayersClassifier } from '../src/model/classifier.js';
import { parseThreat } from '../src/threat/threat-model.js';
import { train, type TrainConfig } from '../src/training/trainer.js';
import { makeStrategy, tradesLoss, martLoss, free, ensemble } from '../src/training/strategies/index.js';
import type { BatchContext } from '../src/training/strategy.js';

const threat = parseThreat('linf:0.3');
const meta = { inputShape: [28, 28, 1], numClasses: 10, domain: { lower: 0, upper: 1 }, output: 'logits' as const };

async function setup(n = 256) {
  await selectBackend('wasm');
  const data = await loadDataset('mnist');
  return { tr: subset(data.train, n), te: subset(data.test, 200) };
}

function model(seed = 1): LayersClassifier {
  return fromLayersModel(buildZooModel('mnist-small', { inputShape: [28, 28, 1], numClasses: 10, seed }), { domain: { lower: 0, upper: 1 } });
}

const cfg = (over: Partial<TrainConfig>): TrainConfig => ({
  epochs: 1, batchSize: 64, optimizer: 'adam', schedule: { kind: 'constant', lr: 1e-3 }, seed: 3, threat, ...over,
});

function batchCtx(ds: ReturnType<typeof subset>, size: number): BatchContext {
  const b = batches(ds, size).next().value!;
  const { xs, ys } = toTensors(b, ds.shape, ds.numClasses);
  return { xs, ys, labels: tf.tensor1d(b.y, 'int32'), epoch: 0, seed: 5, threat };
}

function rowDistances(a: tf.Tensor, b: tf.Tensor): number[] {
  const d = tf.tidy(() => tf.max(tf.abs(tf.reshape(tf.sub(a, b), [a.shape[0]!, -1])), 1));
  const out = Array.from(d.dataSync());
  d.dispose();
  return out;
}

test('mixed: exactly round(ratio·b) rows are adversarial (within ε), the rest are the clean inputs', async () => {
  const { tr } = await setup();
  const clf = model();
  const ctx = batchCtx(tr, 64);
  const before = tf.memory().numTensors;
  const s = makeStrategy('mixed', { eps: 0.3, advRatio: 0.25, attack: 'pgd', attackSteps: 3 });
  const x = s.prepare!(clf, ctx)!;
  const d = rowDistances(x, ctx.xs);
  assert.equal(d.filter((v) => v > 0).length, 16);
  assert.ok(d.slice(0, 16).every((v) => v > 0.05 && v <= 0.3 + 1e-6), `adversarial rows: ${d.slice(0, 16)}`);
  assert.ok(d.slice(16).every((v) => v === 0));
  const parts = tf.tidy(() => {
    const out = s.loss(clf, ctx, x);
    return [out.adv!.logits.shape[0], out.adv!.from ?? 0, out.clean!.logits.shape[0], out.clean!.from];
  });
  assert.deepEqual(parts, [16, 0, 48, 16]);
  x.dispose();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([ctx.xs, ctx.ys, ctx.labels]);
  clf.model.dispose();
});

test('free: m replays per minibatch, each with exactly one forward/backward pass; δ stays inside ε', async () => {
  const { tr } = await setup(128);
  const clf = model();
  let forwards = 0;
  const counting: LayersClassifier = { ...clf, trainingLogits: (x) => (forwards++, clf.trainingLogits(x)) };
  const s = free(3);
  const before = tf.memory().numTensors;
  await train(counting, tr, undefined, cfg({ strategy: s }));
  assert.equal(s.backwardPasses(), 2 * 3, '2 minibatches × 3 replays');
  assert.equal(forwards, 6, 'one forward (hence one backward) per replay, nothing else on the tape');
  assert.equal(tf.memory().numTensors, before, 'δ released at the end');
  clf.model.dispose();
});

test('TRADES loss equals CE + β·KL on a hand-computed case', async () => {
  await selectBackend('cpu');
  const nat = tf.tensor2d([[2, 0], [0, 1]]);
  const adv = tf.tensor2d([[1, 1], [0, 3]]);
  const ys = tf.tensor2d([[1, 0], [0, 1]]);
  const sm = (a: number, b: number) => [Math.exp(a) / (Math.exp(a) + Math.exp(b)), Math.exp(b) / (Math.exp(a) + Math.exp(b))];
  const p1 = sm(2, 0), q1 = sm(1, 1), p2 = sm(0, 1), q2 = sm(0, 3);
  const ceNat = (-Math.log(p1[0]!) - Math.log(p2[1]!)) / 2;
  const kl = (p: number[], q: number[]) => p.reduce((s, pi, i) => s + pi * Math.log(pi / q[i]!), 0);
  const expected = ceNat + 6 * ((kl(p1, q1) + kl(p2, q2)) / 2);
  const got = tradesLoss(ys, nat, adv, 6);
  assert.ok(Math.abs(got.dataSync()[0]! - expected) < 1e-5, `${got.dataSync()[0]} vs ${expected}`);
  tf.dispose([nat, adv, ys, got]);
});

test('MART loss equals boosted CE + λ·KL·(1 − p_y) on a hand-computed case', async () => {
  await selectBackend('cpu');
  const nat = tf.tensor2d([[1, 0, -1]]);
  const adv = tf.tensor2d([[0, 1, 0]]);
  const y = tf.tensor1d([0], 'int32');
  const soft = (z: number[]) => z.map((v) => Math.exp(v) / z.reduce((s, w) => s + Math.exp(w), 0));
  const p = soft([1, 0, -1]), q = soft([0, 1, 0]);
  const bce = -Math.log(q[0]!) - Math.log(1.0001 - q[1]! + 1e-12);
  const kl = p.reduce((s, pi, i) => s + pi * Math.log(pi / q[i]!), 0);
  const expected = bce + 6 * kl * (1.0000001 - p[0]!);
  const got = martLoss(y, nat, adv, 6);
  assert.ok(Math.abs(got.dataSync()[0]! - expected) < 1e-5, `${got.dataSync()[0]} vs ${expected}`);
  tf.dispose([nat, adv, y, got]);
});

test('fgsm-rs and pgd-at train on adversarial inputs inside the ε-ball that raise the loss', async () => {
  const { tr } = await setup();
  const clf = model();
  const ctx = batchCtx(tr, 64);
  for (const method of ['fgsm-rs', 'pgd-at'] as const) {
    const s = makeStrategy(method, { eps: 0.3, attackSteps: 5 });
    const x = s.prepare!(clf, ctx)!;
    const d = rowDistances(x, ctx.xs);
    assert.ok(d.every((v) => v <= 0.3 + 1e-6) && d.some((v) => v > 0.29), `${method}: distances ${Math.min(...d)}…${Math.max(...d)}`);
    const [lc, la] = tf.tidy(() => [tf.losses.softmaxCrossEntropy(ctx.ys, clf.logits(ctx.xs)), tf.losses.softmaxCrossEntropy(ctx.ys, clf.logits(x))].map((t) => t.dataSync()[0]!));
    assert.ok(la! > lc!, `${method}: adversarial loss ${la} > clean ${lc}`);
    const parts = tf.tidy(() => {
      const out = s.loss(clf, ctx, x);
      return [out.adv?.logits.shape[0], out.clean === undefined];
    });
    assert.deepEqual(parts, [64, true]);
    x.dispose();
  }
  tf.dispose([ctx.xs, ctx.ys, ctx.labels]);
  clf.model.dispose();
});

test('ensemble: the adversarial share is crafted in rotation on the trained model and each static model', async () => {
  const { tr } = await setup(320);
  const clf = model(1);
  const a = model(2);
  const b = model(3);
  const s = ensemble([a, b], 0.5, { steps: 1, stepFactor: 1, randomStart: false, loss: 'ce' });
  await train(clf, tr, undefined, cfg({ strategy: s }));
  assert.deepEqual(s.sources, ['self', 'static1', 'static2', 'self', 'static1']);
  for (const m of [clf, a, b]) m.model.dispose();
});

test('catastrophic overfitting reproduced on purpose (FGSM, zero init, α = 2ε at ε = 0.3) is caught, rolled back and stopped', async () => {
  const { tr } = await setup(2000);
  const clf = model(1);
  const lines: string[] = [];
  const r = await train(clf, tr, undefined, cfg({
    epochs: 2, epsWarmup: 1, schedule: { kind: 'constant', lr: 3e-3 },
    strategy: makeStrategy('fgsm-rs', { eps: 0.3, alpha: 2, randomStart: false }),
    coGuard: { steps: 10, batch: 256 }, log: (l) => lines.push(l),
  }));
  assert.ok(r.stopped && /catastrophic overfitting/.test(r.stopped), `stopped: ${r.stopped}`);
  assert.ok(lines.some((l) => /α lowered/.test(l)), 'the guard first lowered α');
  assert.ok(r.history.every((h) => h.co_check_accuracy === null || h.co_check_accuracy >= 0));
  clf.model.dispose();
});

test('robust early stopping keeps the best epoch by PGD validation accuracy in OUT/best', async () => {
  const { tr, te } = await setup(512);
  const root = mkdtempSync(join(tmpdir(), 'advtrain-best-'));
  const clf = model(1);
  const r = await train(clf, tr, te, cfg({
    epochs: 2, outDir: root, metadata: meta,
    strategy: makeStrategy('fgsm-rs', { eps: 0.3 }), threat: parseThreat('linf:0.1'),
    robustValidation: { steps: 5, n: 100 },
  }));
  assert.ok(r.best, 'a best epoch is reported');
  const accs = r.history.map((h) => h.robust_val_accuracy!);
  assert.equal(r.best!.robust_val_accuracy, Math.max(...accs));
  assert.ok(existsSync(join(root, 'best', 'model.json')));
  clf.model.dispose();
  rmSync(root, { recursive: true, force: true });
});
