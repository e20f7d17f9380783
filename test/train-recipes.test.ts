import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/engine/backend.js';
import { loadDataset } from '../src/data/index.js';
import { subset } from '../src/data/batching.js';
import { buildZooModel } from '../src/model/zoo.js';
import { fromLayersModel } from '../src/model/classifier.js';
import { train, type TrainConfig } from '../src/training/trainer.js';
import { lineProgress } from '../src/training/progress.js';
import { fgsmRs } from '../src/training/strategies/index.js';
import { parseThreat } from '../src/threat/threat-model.js';
import type { TrainingStrategy } from '../src/training/strategy.js';
import { BIN } from './cli-helpers.js';

const meta = { inputShape: [28, 28, 1], numClasses: 10, domain: { lower: 0, upper: 1 }, output: 'logits' as const };

async function tiny() {
  await selectBackend('wasm');
  const data = await loadDataset('mnist');
  return subset(data.train, 100);
}
const base = (over: Partial<TrainConfig>): TrainConfig => ({ epochs: 3, batchSize: 50, optimizer: 'adam', schedule: { kind: 'constant', lr: 1e-3 }, seed: 1, ...over });

test("each catastrophic-overfitting event is printed once, not by both the log and the progress display", async () => {
  const tr = await tiny();
  const clf = fromLayersModel(buildZooModel('mlp', { inputShape: [28, 28, 1], numClasses: 10, seed: 2 }), { domain: tr.domain });
  const lines: string[] = [];
  // floor above 1 and trust below 0: the guard fires after every epoch, FGSM-RS lowers α until it stops.
  const r = await train(clf, tr, undefined, base({
    strategy: fgsmRs(), threat: parseThreat('linf:0.1'), coGuard: { steps: 2, batch: 20, floor: 1.01, trust: -1 },
    log: (l) => lines.push(l), progress: lineProgress((l) => lines.push(l)),
  }));
  assert.ok(r.stopped, 'the guard stopped training');
  const events = lines.filter((l) => l.includes('catastrophic overfitting in epoch'));
  assert.equal(events.length, 4, `three retries and a stop, each once:\n${lines.join('\n')}`);
  assert.equal(new Set(events).size, events.length, 'a guard message was printed twice');
  clf.model.dispose();
});

test('a run that fails before its first checkpoint leaves no run directory behind', async () => {
  const tr = await tiny();
  const root = mkdtempSync(join(tmpdir(), 'advtrain-fail-'));
  const clf = fromLayersModel(buildZooModel('mlp', { inputShape: [28, 28, 1], numClasses: 10, seed: 2 }), { domain: tr.domain });
  const failing: TrainingStrategy = { name: 'failing', loss: () => { throw new Error('kernel fault'); } };
  const before = tf.memory().numTensors;
  await assert.rejects(train(clf, tr, undefined, base({ strategy: failing, outDir: join(root, 'out'), metadata: meta })), /kernel fault/);
  assert.ok(!existsSync(join(root, 'out')), 'the failed run left its --out directory');
  assert.ok(tf.memory().numTensors - before <= 3, 'the failed step leaked more than its batch');
  clf.model.dispose();
  rmSync(root, { recursive: true, force: true });
});

test("a method's recipe fills what the user did not set, and train --help lists the recipes", () => {
  const root = mkdtempSync(join(tmpdir(), 'advtrain-recipe-'));
  try {
    const out = join(root, 'r');
    const r = spawnSync(process.execPath, [BIN, 'train', '--dataset', 'mnist', '--model', 'mlp', '--method', 'fgsm-rs', '--threat', 'linf:0.1',
      '--epochs', '1', '--n', '100', '--batch-size', '20', '--backend', 'wasm', '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const config = JSON.parse(readFileSync(join(out, 'checkpoint', 'state.json'), 'utf8')).config;
    assert.equal(config.batchSize, 20, 'a value the user set is kept');
    assert.deepEqual(config.schedule, { kind: 'cyclic', lr: 5e-3, peakAt: 0.4 });
    assert.equal(config.epsWarmup, 0.2);
    const help = spawnSync(process.execPath, [BIN, 'train', '--help'], { encoding: 'utf8' });
    assert.match(help.stdout, /fgsm-rs: --batch-size 100 --lr 0\.005 --lr-schedule cyclic:0\.4, --eps-warmup 0\.2 × epochs/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
