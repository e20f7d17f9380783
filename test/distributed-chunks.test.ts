/**
 * What a worker computes, without Redis: the protocol on chunks of examples gives each example
 * what `evaluateEnsemble` gives it on the whole set (Square included: its random streams are
 * per example), an attack on chunks of whole batches what `runAttack` gives; payloads are
 * validated field by field; result files never record a Redis password.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { fromFunction } from '../src/model/classifier.js';
import type { Dataset } from '../src/data/dataset.js';
import { Rng } from '../src/data/rng.js';
import { Pgd } from '../src/attacks/pgd.js';
import { Apgd } from '../src/attacks/apgd.js';
import { SquareAttack } from '../src/attacks/square.js';
import { lpThreat } from '../src/threat/threat-model.js';
import { evaluateEnsemble } from '../src/eval/protocol.js';
import { runAttack } from '../src/eval/attack-run.js';
import { evalChunk, attackChunk } from '../src/distributed/chunk-work.js';
import { pack, unpack } from '../src/distributed/codec.js';
import { validateJob, JOB_VERSION } from '../src/distributed/job.js';
import { redactRedis } from '../src/cli/shard-options.js';
import type { Member } from '../src/eval/presets.js';

before(async () => {
  await tf.setBackend('cpu');
});

/** A fixed 3-class linear model on 4×4×1 inputs in [0, 1], and 30 examples it mostly gets right. */
function problem(): { clf: ReturnType<typeof fromFunction>; ds: Dataset } {
  const rng = new Rng(7);
  const d = 16;
  const w = tf.keep(tf.tensor2d(Array.from({ length: d * 3 }, () => rng.next() * 2 - 1), [d, 3]));
  const clf = fromFunction((x) => tf.tidy(() => tf.mul(tf.matMul(tf.reshape(x, [x.shape[0]!, d]), w), 4)), { inputShape: [4, 4, 1], numClasses: 3, domain: { lower: 0, upper: 1 } });
  const n = 30;
  const x = Float32Array.from({ length: n * d }, () => rng.next());
  const logits = tf.tidy(() => tf.argMax(clf.logits(tf.tensor(x, [n, 4, 4, 1])), 1));
  const y = Int32Array.from(logits.dataSync(), (c, i) => (i % 7 === 3 ? (c + 1) % 3 : c));
  logits.dispose();
  return { clf, ds: { name: 'toy/test', x, y, n, shape: [4, 4, 1], numClasses: 3, classNames: ['a', 'b', 'c'], domain: { lower: 0, upper: 1 } } };
}

test('the protocol on chunks gives every example what evaluateEnsemble gives it (Square included), leaking no tensors', async () => {
  const { clf, ds } = problem();
  const threat = lpThreat('linf', 0.15);
  const members: Member[] = [
    { attack: new Pgd({ steps: 5 }), access: 'white-box' },
    { attack: new Apgd({ loss: 'ce', steps: 10 }), access: 'white-box' },
    { attack: new SquareAttack({ maxQueries: 200 }), access: 'black-box' },
  ];
  const ref = await evaluateEnsemble(clf, ds, { threat, members, seed: 5, batchSize: 8 });
  assert.ok(ref.members[2]!.attacked > 0, 'Square runs on some examples');
  const before = tf.memory().numTensors;
  const todo = Array.from(ref.cleanCorrect).flatMap((c, i) => (c ? [i] : []));
  for (const chunk of [3, 7]) {
    for (let s = 0; s < todo.length; s += chunk) {
      const idx = todo.slice(s, s + chunk);
      const r = unpack<{ memberTime: number[] }>(pack(await evalChunk(clf, ds, idx, members, { threat, seed: 5, batchSize: 4 })));
      idx.forEach((i, k) => {
        assert.equal(r.arrays.brokenBy![k], ref.brokenBy[i], `example ${i}, chunks of ${chunk}`);
        assert.deepEqual(Array.from(r.arrays.adv!.subarray(k * 16, (k + 1) * 16)), Array.from(ref.adv.subarray(i * 16, (i + 1) * 16)), `adversarial input ${i}`);
      });
    }
  }
  assert.equal(tf.memory().numTensors, before);
});

test('an attack on chunks of whole batches gives runAttack per example, kept examples with their global index', async () => {
  const { clf, ds } = problem();
  const threat = lpThreat('l2', 0.5);
  const attack = new Pgd({ steps: 4, restarts: 2 });
  const ref = await runAttack(clf, ds, attack, { threat, seed: 2, batchSize: 5, targeted: true, keepExamples: 3 });
  const r = await attackChunk(clf, ds, Array.from({ length: 10 }, (_, k) => 10 + k), attack, { threat, seed: 2, batchSize: 5, targeted: true, keep: 3 });
  assert.deepEqual(Array.from(r.arrays.robust!), Array.from(ref.robust.subarray(10, 20)));
  assert.deepEqual(Array.from(r.arrays.distances!), Array.from(ref.distances.subarray(10, 20)));
  assert.deepEqual(Array.from(r.arrays.queries!), Array.from(ref.queriesPer.subarray(10, 20)));
  assert.ok(r.meta.kept.length > 0 && r.meta.kept.every((k) => k.index >= 10 && k.index < 20));
});

test('a job payload is validated field by field, with one line naming the field', () => {
  const good = {
    v: JOB_VERSION, run: 'a'.repeat(32), chunk: 0, kind: 'attack', attack: 'pgd', flags: { steps: 5 }, targeted: false, keep: 0,
    model: { via: 'redis', sha256: 'b'.repeat(64) }, data: { dataset: 'mnist', split: 'test', n: 100, sha256: 'c'.repeat(64) },
    threat: 'linf:0.3', seed: 0, batchSize: 8, backend: 'wasm', indices: [0, 5, 99],
  };
  assert.equal(validateJob(good).kind, 'attack');
  const bad = (patch: object) => () => validateJob({ ...good, ...patch });
  assert.throws(bad({ attack: 'rm -rf' }), /^Error: invalid job: attack is "rm -rf": unknown attack \(known: .*pgd/);
  assert.throws(bad({ indices: [0, 100] }), /invalid job: indices holds 100, not an index in \[0, 100\)/);
  assert.throws(bad({ indices: [3, 3] }), /invalid job: indices are not strictly increasing/);
  assert.throws(bad({ flags: { eval: 'x' } }), /invalid job: flags.eval is not an attack flag/);
  assert.throws(bad({ model: { via: 'http', sha256: 'b'.repeat(64) } }), /invalid job: model.via is "http", not 'path' or 'redis'/);
  assert.throws(bad({ v: 99 }), /invalid job: v is 99, this worker reads job format 1/);
  assert.throws(bad({ kind: 'eval', preset: 'all-of-them' }), /invalid job: preset is "all-of-them": not one of quick, standard, thorough/);
  assert.throws(() => validateJob('{"kind":"eval"}'), /invalid job: payload is not an object/);
});

test('a Redis password never reaches the recorded command line', () => {
  assert.deepEqual(redactRedis(['advtrain', 'eval', '--redis', 'redis://:hunter2@h:6379', '--n', '5']), ['advtrain', 'eval', '--redis', 'redis://:***@h:6379', '--n', '5']);
  assert.deepEqual(redactRedis(['--redis=rediss://u:pw@h:1/2']), ['--redis=rediss://u:***@h:1/2']);
  assert.deepEqual(redactRedis(['--redis', 'redis://h:1']), ['--redis', 'redis://h:1']);
});
