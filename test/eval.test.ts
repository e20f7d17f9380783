import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/engine/backend.js';
import { loadDataset } from '../src/data/index.js';
import { subset } from '../src/data/batching.js';
import type { Dataset } from '../src/data/dataset.js';
import { buildZooModel } from '../src/model/zoo.js';
import { fromFunction, fromLayersModel, type Classifier, type LayersClassifier } from '../src/model/classifier.js';
import { train } from '../src/training/trainer.js';
import { parseThreat } from '../src/threat/threat-model.js';
import { evaluateEnsemble } from '../src/eval/protocol.js';
import { presetMembers } from '../src/eval/presets.js';
import { reliabilityChecks } from '../src/eval/checks.js';
import { evaluate } from '../src/eval/evaluate.js';
import { validateEvalResult } from '../src/eval/validate-result.js';
import { parseEpsRange } from '../src/eval/eps-curve.js';
import { Pgd } from '../src/attacks/pgd.js';
import { Fgsm } from '../src/attacks/fgsm.js';

let clf: LayersClassifier;
let test200: Dataset;
const threat = parseThreat('linf:0.1');

before(async () => {
  await selectBackend('wasm');
  const data = await loadDataset('mnist');
  clf = fromLayersModel(buildZooModel('mnist-small', { inputShape: [28, 28, 1], numClasses: 10, seed: 4 }), { domain: data.train.domain });
  await train(clf, subset(data.train, 4000), undefined, { epochs: 1, batchSize: 64, optimizer: 'adam', schedule: { kind: 'cyclic', lr: 4e-3, peakAt: 0.4 }, seed: 1 });
  test200 = subset(data.test, 200);
});

const strip = (r: Awaited<ReturnType<typeof evaluateEnsemble>>) => ({
  robust: Array.from(r.robust),
  brokenBy: Array.from(r.brokenBy),
  rows: r.members.map(({ time_s, ...rest }) => rest),
  adv: Array.from(r.adv.subarray(0, 2000)),
});

test('worst case over the ensemble: later attacks run only on surviving points; accuracy never rises', async () => {
  const members = [{ attack: new Fgsm(), access: 'white-box' as const }, { attack: new Pgd({ steps: 10 }), access: 'white-box' as const }];
  const before = tf.memory().numTensors;
  const r = await evaluateEnsemble(clf, test200, { threat, members, seed: 1, chunk: 64 });
  assert.equal(tf.memory().numTensors, before);
  const [fgsm, pgd] = r.members;
  assert.equal(fgsm!.attacked, r.cleanCorrect.reduce((a, b) => a + b, 0));
  assert.equal(pgd!.attacked, fgsm!.attacked - fgsm!.broken, 'PGD attacks only what FGSM left');
  assert.ok(pgd!.robust_accuracy <= fgsm!.robust_accuracy);
  assert.equal(r.robust_accuracy, pgd!.robust_accuracy);
  for (let i = 0; i < r.n; i++) {
    if (!r.cleanCorrect[i]) assert.equal(r.robust[i], 0);
    if (r.robust[i]) assert.equal(r.brokenBy[i], -1);
  }
});

test('an interrupted evaluation resumes from its saved state and gives the same result as an uninterrupted one', async () => {
  const members = presetMembers('quick', threat);
  const full = await evaluateEnsemble(clf, test200, { threat, members, seed: 2, chunk: 50 });
  const statePath = join(mkdtempSync(join(tmpdir(), 'advtrain-eval-')), 'out.json.state');
  await assert.rejects(
    evaluateEnsemble(clf, test200, {
      threat, members, seed: 2, chunk: 50, statePath,
      afterChunk: (m, c) => {
        if (m === 0 && c === 1) throw new Error('simulated kill');
      },
    }),
    /simulated kill/,
  );
  assert.ok(existsSync(statePath));
  let chunksRun = 0;
  const resumed = await evaluateEnsemble(clf, test200, { threat, members, seed: 2, chunk: 50, statePath, afterChunk: () => void chunksRun++ });
  assert.deepEqual(strip(resumed), strip(full));
  const totalChunks = Math.ceil(full.members[0]!.attacked / 50) + Math.ceil(full.members[1]!.attacked / 50);
  assert.equal(chunksRun, totalChunks - 2, 'the two finished chunks were not run again');
});

test('a model that masks its gradients (quantised input) fails a reliability check, which says why', async () => {
  const masked: Classifier = fromFunction((x) => clf.logits(tf.div(tf.round(tf.mul(x, 4)), 4)), { inputShape: [28, 28, 1], numClasses: 10, domain: clf.domain });
  const t = parseThreat('linf:0.3');
  const sub = subset(test200, 60);
  const members = presetMembers('quick', t);
  const r = await evaluateEnsemble(masked, sub, { threat: t, members, seed: 3 });
  const checks = await reliabilityChecks(masked, sub, r, { threat: t, access: members.map((m) => m.access), m: 60, seed: 3 });
  const failed = checks.filter((c) => c.verdict === 'fail');
  assert.ok(failed.length >= 1, JSON.stringify(checks, null, 1));
  const grads = checks.find((c) => /gradient/.test(c.name))!;
  assert.equal(grads.verdict, 'fail');
  assert.match(grads.detail, /100\.0% of 60 examples have an all-zero or non-finite input gradient/);
  // And the same checks pass on the unmasked model.
  const r2 = await evaluateEnsemble(clf, sub, { threat: t, members, seed: 3 });
  const ok = await reliabilityChecks(clf, sub, r2, { threat: t, access: members.map((m) => m.access), m: 60, seed: 3 });
  assert.equal(ok.find((c) => /gradient/.test(c.name))!.verdict, 'pass');
});

test('evaluate() produces a valid advtrain/eval@2 result with margins, an ε curve, checks and a gallery', async () => {
  const r = await evaluate(clf, subset(test200, 80), {
    threat, preset: 'quick', seed: 0, epsCurve: parseEpsRange('0:0.2:0.1'), curveN: 80, checkN: 40, gallery: 4,
    describe: { model: { path: 'mem' }, dataset: 'mnist', engine: { backend: 'wasm' }, versions: { advtrain: '0', tfjs: tf.version_core, node: process.version } },
  });
  validateEvalResult(JSON.parse(JSON.stringify(r)));
  assert.equal(r.eps_curve![0]!.eps, 0);
  assert.equal(r.eps_curve![0]!.accuracy, r.clean_accuracy);
  assert.ok(r.eps_curve!.every((p, i) => i === 0 || p.accuracy <= r.eps_curve![i - 1]!.accuracy + 1e-9));
  assert.ok(r.margin.gap.confidence > 0, 'the attack lowers the true-class confidence');
  assert.equal(r.checks.length, 6);
  assert.equal(r.gallery.length, 4);
  assert.ok(r.robust_accuracy <= r.clean_accuracy);
});
