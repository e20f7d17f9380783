/**
 * The resumable attack run in-process: chunked and saved after every batch, it gives exactly
 * runAttack's result on the whole set (per example and in total, kept examples included), and a
 * run that stopped after a saved chunk continues to the same result.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/engine/backend.js';
import { fromFunction } from '../src/model/classifier.js';
import type { Dataset } from '../src/data/dataset.js';
import { lpThreat } from '../src/threat/threat-model.js';
import { Pgd } from '../src/attacks/pgd.js';
import { runAttack, type AttackRunResult } from '../src/eval/attack-run.js';
import { runAttackResumable } from '../src/eval/attack-resume.js';
import { rand } from './helpers.js';

/** Everything but the clock, typed arrays as plain arrays. */
const comparable = (r: AttackRunResult) =>
  JSON.parse(JSON.stringify({ ...r, time_s: 0, kept: r.kept.map((k) => ({ ...k, x: Array.from(k.x), xAdv: Array.from(k.xAdv) })) }, (_k, v: unknown) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v)));

test('a resumable attack run equals runAttack on the whole set, and continues a run stopped after a saved chunk to the same result', async () => {
  await selectBackend('cpu');
  const n = 23;
  const w = tf.keep(tf.tensor2d(rand(8 * 3, 5), [8, 3]));
  const clf = fromFunction((x) => tf.matMul(tf.reshape(x, [-1, 8]) as tf.Tensor2D, w), { inputShape: [8], numClasses: 3, domain: { lower: 0, upper: 1 } });
  const x = rand(n * 8, 6, 0, 1);
  const pred = tf.tidy(() => tf.argMax(clf.logits(tf.tensor2d(x, [n, 8])), 1).dataSync());
  // Most labels are the model's prediction (attacked), a few are not (clean errors).
  const y = Int32Array.from(pred, (p, i) => (i % 7 === 3 ? (p + 1) % 3 : p));
  const ds: Dataset = { name: 'r', x, y, n, shape: [8], numClasses: 3, classNames: ['a', 'b', 'c'], domain: { lower: 0, upper: 1 } };
  const root = mkdtempSync(join(tmpdir(), 'advtrain-attack-resume-'));
  try {
    for (const targeted of [false, true]) {
      const opts = { threat: lpThreat('linf', 0.15), seed: 2, batchSize: 4, targeted, keepExamples: 9 };
      const whole = await runAttack(clf, ds, new Pgd({ steps: 4, restarts: 2 }), opts);
      assert.ok(whole.attacked > 0 && whole.robust_accuracy < whole.clean_accuracy, 'the attack breaks some examples');
      const statePath = join(root, `${targeted}.state`);
      const settings = { '--seed': 2, '--targeted': targeted };
      const before = tf.memory().numTensors;
      const chunked = await runAttackResumable(clf, ds, new Pgd({ steps: 4, restarts: 2 }), { ...opts, statePath, settings, saveEveryBatches: 1 });
      assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
      assert.deepEqual(comparable(chunked), comparable(whole));
      rmSync(statePath);
      // Stop (as a crash would) in the third batch, after two chunks were saved; then run again.
      let batches = 0;
      await assert.rejects(
        runAttackResumable(clf, ds, new Pgd({ steps: 4, restarts: 2 }), {
          ...opts,
          statePath,
          settings,
          saveEveryBatches: 1,
          onProgress: () => {
            if (++batches === 3) throw new Error('crash');
          },
        }),
        /crash/,
      );
      assert.ok(existsSync(statePath));
      let resumedAt = -1;
      const resumed = await runAttackResumable(clf, ds, new Pgd({ steps: 4, restarts: 2 }), { ...opts, statePath, settings, saveEveryBatches: 2, onResume: (d) => (resumedAt = d) });
      assert.equal(resumedAt, 8, 'resumed after two batches of 4');
      assert.deepEqual(comparable(resumed), comparable(whole));
      // The kept examples straddle the resume point.
      assert.ok(resumed.kept.some((k) => k.index < 8) && resumed.kept.some((k) => k.index >= 8));
      rmSync(statePath);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
    w.dispose();
  }
});
