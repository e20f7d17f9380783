import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/engine/backend.js';
import { loadDataset } from '../src/data/index.js';
import { infeasibility } from '../src/data/domain.js';
import type { Dataset } from '../src/data/dataset.js';
import { buildZooModel } from '../src/model/zoo.js';
import { fromLayersModel } from '../src/model/classifier.js';
import { parseThreat } from '../src/threat/threat-model.js';
import { runAttack } from '../src/eval/attack-run.js';
import { Capgd } from '../src/attacks/capgd.js';
import { Moeva } from '../src/attacks/moeva.js';
import { Caa } from '../src/attacks/caa.js';
import { Pgd } from '../src/attacks/pgd.js';
import { boxOnly } from '../src/attacks/constrained.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sharedDataDir } from '../src/tabular/tabular-dataset.js';

const skip = existsSync(join(sharedDataDir(), 'nsl-kdd', 'KDDTest+.txt')) ? false : 'shared data folder not found (set ADVTRAIN_DATA)';

// The shipped NSL-KDD schema (20 relations, immutables, one-hot groups, integer grids) against an
// untrained MLP whose own predictions are the labels: every record is attacked.
test('on NSL-KDD with its shipped schema, every record of capgd, moeva and caa is valid; unconstrained pgd records mostly are not', { skip }, async () => {
  await selectBackend('cpu');
  const data = await loadDataset('nsl-kdd');
  const n = 40;
  const d = data.test.shape[0]!;
  const x = data.test.x.slice(0, n * d);
  const clf = fromLayersModel(buildZooModel('mlp', { inputShape: data.test.shape, numClasses: 2, seed: 0 }), { domain: data.test.domain });
  const pred = tf.tidy(() => tf.argMax(clf.logits(tf.tensor2d(x, [n, d])), 1));
  const ds: Dataset = { ...data.test, x, y: Int32Array.from(pred.dataSync()), n };
  pred.dispose();
  const threat = parseThreat('l2:0.5');
  const before = tf.memory().numTensors;
  for (const attack of [new Capgd({ steps: 8 }), new Moeva({ population: 8, generations: 6 }), new Caa({ steps: 8, population: 8, generations: 6 })]) {
    const adv = new Float32Array(n * d);
    const r = await runAttack(clf, ds, attack, { threat, seed: 0, advOut: adv });
    assert.equal(r.attacked, n);
    assert.equal(r.validity_rate, 1, attack.name);
    for (let i = 0; i < n; i++) assert.equal(infeasibility(data.test.domain, adv.subarray(i * d, (i + 1) * d), x.subarray(i * d, (i + 1) * d)), undefined, `${attack.name} record ${i}`);
  }
  const pgd = await runAttack({ ...clf, domain: boxOnly(clf.domain) }, ds, new Pgd({ steps: 5 }), { threat, seed: 0, validate: data.test.domain });
  assert.ok(pgd.validity_rate! < 0.5, `unconstrained pgd validity ${pgd.validity_rate}`);
  assert.equal(tf.memory().numTensors, before);
  clf.model.dispose();
});
