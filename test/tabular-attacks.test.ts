import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/engine/backend.js';
import { infeasibility } from '../src/data/domain.js';
import { parseThreat } from '../src/threat/threat-model.js';
import { runAttack } from '../src/eval/attack-run.js';
import { Capgd } from '../src/attacks/capgd.js';
import { Moeva } from '../src/attacks/moeva.js';
import { Caa } from '../src/attacks/caa.js';
import { Pgd } from '../src/attacks/pgd.js';
import { Fgsm } from '../src/attacks/fgsm.js';
import { boxOnly } from '../src/attacks/constrained.js';
import { createAttack, attackSupport } from '../src/attacks/registry.js';
import { nonDominatedFronts, referenceDirections } from '../src/attacks/nsga.js';
import { UserError } from '../src/errors.js';
import { D, TABULAR, tabularDataset, tabularModel, tabularRecords } from './tabular-fixture.js';

const QUICK = { capgd: { steps: 15 }, moeva: { population: 12, generations: 12 } };

test('synthetic tabular records satisfy every relation of their domain (the fixture is valid)', () => {
  const x = tabularRecords(200);
  for (let i = 0; i < 200; i++) assert.equal(infeasibility(TABULAR, x.subarray(i * D, (i + 1) * D)), undefined, `record ${i}`);
});

for (const [name, make] of [
  ['capgd', () => new Capgd(QUICK.capgd)],
  ['moeva', () => new Moeva(QUICK.moeva)],
  ['caa', () => new Caa({ ...QUICK.capgd, ...QUICK.moeva })],
] as const) {
  for (const threat of ['l2:0.5', 'linf:0.2']) {
    test(`${name} at ${threat}: every adversarial record is valid (types, immutables, relations) and some are found`, async () => {
      await selectBackend('cpu');
      const clf = tabularModel();
      const ds = tabularDataset(clf, 60);
      const before = tf.memory().numTensors;
      const adv = new Float32Array(ds.n * D);
      const r = await runAttack(clf, ds, make(), { threat: parseThreat(threat), batchSize: 25, seed: 0, advOut: adv });
      assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
      assert.equal(r.validity_rate, 1);
      assert.ok(r.success_rate > 0.1, `${name} broke only ${r.success_rate}`);
      for (let i = 0; i < ds.n; i++) {
        const row = adv.subarray(i * D, (i + 1) * D);
        assert.equal(infeasibility(TABULAR, row, ds.x.subarray(i * D, (i + 1) * D)), undefined, `record ${i}`);
      }
    });
  }
}

test('unconstrained pgd and fgsm on the box alone: their records are re-validated, the invalid ones do not count', async () => {
  await selectBackend('cpu');
  const clf = tabularModel();
  const boxView = { ...clf, domain: boxOnly(clf.domain) };
  const ds = tabularDataset(clf, 60);
  for (const attack of [new Pgd({ steps: 20 }), new Fgsm()]) {
    const r = await runAttack(boxView, ds, attack, { threat: parseThreat('l2:0.5'), seed: 0, validate: TABULAR });
    assert.ok(r.validity_rate! < 0.5, `${attack.name}: validity ${r.validity_rate}`);
    const unchecked = await runAttack(boxView, ds, attack, { threat: parseThreat('l2:0.5'), seed: 0, validate: boxOnly(TABULAR) });
    assert.equal(unchecked.validity_rate, 1);
    // Invalid records that fooled the model are taken back: the checked robust accuracy is higher.
    assert.ok(r.invalid_successes! > 0);
    assert.ok(r.robust_accuracy > unchecked.robust_accuracy);
  }
});

test('caa is at least as strong as capgd and moeva alone (per example), and its records stay valid', async () => {
  await selectBackend('cpu');
  const clf = tabularModel(11);
  const ds = tabularDataset(clf, 80, 3);
  const threat = parseThreat('l2:0.8');
  const run = (a: Capgd | Moeva | Caa) => runAttack(clf, ds, a, { threat, seed: 5, batchSize: 40 });
  const capgd = await run(new Capgd(QUICK.capgd));
  const moeva = await run(new Moeva(QUICK.moeva));
  const caa = await run(new Caa({ ...QUICK.capgd, ...QUICK.moeva }));
  assert.ok(caa.robust_accuracy <= Math.min(capgd.robust_accuracy, moeva.robust_accuracy), `caa ${caa.robust_accuracy} capgd ${capgd.robust_accuracy} moeva ${moeva.robust_accuracy}`);
  for (let i = 0; i < ds.n; i++) {
    if (!capgd.robust[i] || !moeva.robust[i]) assert.equal(caa.robust[i], 0, `example ${i} broken alone but not by caa`);
  }
  // On this model each half breaks records the other misses: the ensemble is strictly stronger than either.
  assert.ok(caa.robust_accuracy < capgd.robust_accuracy && caa.robust_accuracy < moeva.robust_accuracy);
  assert.equal(caa.validity_rate, 1);
});

test('seeds: the same seed gives the same records, whatever the batch size; another seed changes moeva', async () => {
  await selectBackend('cpu');
  const clf = tabularModel();
  const ds = tabularDataset(clf, 30);
  const threat = parseThreat('l2:0.5');
  const advOf = async (a: Moeva | Capgd, batchSize: number, seed: number) => {
    const out = new Float32Array(ds.n * D);
    await runAttack(clf, ds, a, { threat, seed, batchSize, advOut: out });
    return out;
  };
  for (const make of [() => new Moeva(QUICK.moeva), () => new Capgd({ steps: 10, restarts: 2 })]) {
    assert.deepEqual(await advOf(make(), 30, 1), await advOf(make(), 7, 1));
  }
  assert.notDeepEqual(await advOf(new Moeva(QUICK.moeva), 30, 1), await advOf(new Moeva(QUICK.moeva), 30, 2));
});

test('constrained attacks: bad settings and unsupported threats are one-line errors; the registry marks them constrained with l2:0.5 by default', () => {
  const oneLine = (f: () => unknown, re: RegExp) =>
    assert.throws(f, (e: unknown) => e instanceof UserError && re.test(e.message) && !e.message.includes('\n'));
  oneLine(() => new Capgd({ steps: 0 }), /capgd steps must be a positive integer/);
  oneLine(() => new Moeva({ population: 2 }), /moeva population must be an integer ≥ 4/);
  oneLine(() => createAttack('caa', {}, parseThreat('l1:1')), /attack caa does not support the threat l1:1/);
  oneLine(() => createAttack('moeva', { params: { nope: 1 } }), /attack moeva has no parameter 'nope'/);
  for (const n of ['capgd', 'moeva', 'caa']) assert.equal(attackSupport(n).constrained, true);
  assert.equal(attackSupport('pgd').constrained, undefined);
});

test('nsga: non-dominated fronts and Das-Dennis reference directions', () => {
  assert.deepEqual(nonDominatedFronts([[0, 1], [1, 0], [1, 1], [2, 2]]), [[0, 1], [2], [3]]);
  const refs = referenceDirections(3, 4);
  assert.equal(refs.length, 15);
  for (const r of refs) assert.ok(Math.abs(r.reduce((a, b) => a + b, 0) - 1) < 1e-9);
});
