import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/engine/backend.js';
import { loadDataset } from '../src/data/index.js';
import { subset } from '../src/data/batching.js';
import { buildZooModel } from '../src/model/zoo.js';
import { fromLayersModel } from '../src/model/classifier.js';
import { train, type TrainConfig, type EpochMetrics } from '../src/training/trainer.js';
import { loadCheckpoint } from '../src/training/checkpoint.js';
import { evaluateClean } from '../src/model/accuracy.js';
import { makeSchedule, parseSchedule } from '../src/training/schedules.js';
import type { ProgressReporter } from '../src/training/progress.js';
import { UserError } from '../src/errors.js';

const meta = { inputShape: [28, 28, 1], numClasses: 10, domain: { lower: 0, upper: 1 }, output: 'logits' as const };

async function small() {
  await selectBackend('wasm');
  const data = await loadDataset('mnist');
  return { tr: subset(data.train, 640), te: subset(data.test, 200) };
}

const cfg = (over: Partial<TrainConfig> = {}): TrainConfig => ({
  epochs: 2, batchSize: 64, optimizer: 'adam', schedule: { kind: 'cyclic', lr: 2e-3, peakAt: 0.4 }, seed: 7, ...over,
});

test('a training epoch and an evaluation leave tf.memory().numTensors unchanged, and training learns', async () => {
  const { tr, te } = await small();
  const model = buildZooModel('mnist-small', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
  const clf = fromLayersModel(model, { domain: tr.domain });
  const before = tf.memory().numTensors;
  const accBefore = evaluateClean(clf, te).accuracy;
  const { history } = await train(clf, tr, te, cfg({ epochs: 3 }));
  const accAfter = evaluateClean(clf, te).accuracy;
  assert.equal(tf.memory().numTensors, before);
  assert.equal(history.length, 3);
  assert.ok(history[2]!.loss < history[0]!.loss, 'loss falls');
  assert.ok(accAfter > accBefore + 0.3, `accuracy ${accBefore} → ${accAfter}`);
  model.dispose();
});

test('a run killed after its first checkpoint resumes to the same weights and metrics as an uninterrupted run', async () => {
  const { tr, te } = await small();
  const root = mkdtempSync(join(tmpdir(), 'advtrain-resume-'));
  const full = fromLayersModel(buildZooModel('mlp', { inputShape: [28, 28, 1], numClasses: 10, seed: 3 }), { domain: tr.domain });
  const a = await train(full, tr, te, cfg({ outDir: join(root, 'a'), metadata: meta }));

  const crashing: ProgressReporter = {
    startEpoch(epoch) {
      if (epoch === 1) throw new Error('simulated kill');
    },
    step() {},
    endEpoch() {},
  };
  const b = fromLayersModel(buildZooModel('mlp', { inputShape: [28, 28, 1], numClasses: 10, seed: 3 }), { domain: tr.domain });
  await assert.rejects(train(b, tr, te, cfg({ outDir: join(root, 'b'), metadata: meta, progress: crashing })), /simulated kill/);
  const ckpt = await loadCheckpoint(join(root, 'b'));
  assert.equal(ckpt.state.epoch, 1);
  const resumed = fromLayersModel(ckpt.model, { domain: tr.domain });
  const r = await train(resumed, tr, te, cfg({ outDir: join(root, 'b'), metadata: meta, resumeFrom: ckpt }));

  const wa = full.model.getWeights().map((w) => Array.from(w.dataSync()));
  const wb = resumed.model.getWeights().map((w) => Array.from(w.dataSync()));
  assert.deepEqual(wb, wa);
  const strip = (h: EpochMetrics[]) => h.map(({ seconds, examples_per_s, ...rest }) => rest);
  assert.deepEqual(strip(r.history), strip(a.history));
  const lines = readFileSync(join(root, 'b', 'metrics.jsonl'), 'utf8').trim().split('\n');
  assert.equal(lines.length, 2);
  assert.ok(existsSync(join(root, 'b', 'checkpoint', 'optimizer.bin')));
  full.model.dispose();
  b.model.dispose();
  resumed.model.dispose();
  rmSync(root, { recursive: true, force: true });
});

test('learning-rate schedules: cyclic peaks at its fraction and ends at 0; step decays at milestones', () => {
  const c = makeSchedule({ kind: 'cyclic', lr: 1, peakAt: 0.4 }, 10);
  assert.equal(c(0), 0);
  assert.equal(c(4), 1);
  assert.ok(Math.abs(c(7) - 0.5) < 1e-12);
  assert.equal(c(10), 0);
  const s = makeSchedule(parseSchedule('step:2,4:0.5', 0.8), 6);
  assert.deepEqual([0, 1.9, 2, 3.9, 4, 5].map(s), [0.8, 0.8, 0.4, 0.4, 0.2, 0.2]);
  assert.throws(() => parseSchedule('weird', 1), UserError);
  assert.throws(() => parseSchedule('cyclic:2', 1), UserError);
});

test('bad training settings are refused before anything runs', async () => {
  const { tr } = await small();
  const clf = fromLayersModel(buildZooModel('mlp', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 }), { domain: tr.domain });
  await assert.rejects(train(clf, tr, undefined, cfg({ epochs: -1 })), (e: Error) => e instanceof UserError && /--epochs/.test(e.message));
  await assert.rejects(train(clf, tr, undefined, cfg({ batchSize: 0 })), (e: Error) => e instanceof UserError && /--batch-size/.test(e.message));
  clf.model.dispose();
});
