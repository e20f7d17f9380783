import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/engine/backend.js';
import { fromFunction } from '../src/model/classifier.js';
import type { Dataset } from '../src/data/dataset.js';
import { UserError } from '../src/errors.js';
import { parseAnyThreat } from '../src/threat/parse.js';
import { attackHelp, attackNames, attackSupport, createAttack } from '../src/attacks/registry.js';
import { supportsThreat } from '../src/attacks/support.js';
import { runAttack } from '../src/eval/attack-run.js';
import { evaluateEnsemble } from '../src/eval/protocol.js';
import { assertOneLineError as assertRefused, cli } from './cli-helpers.js';

/**
 * The pairs a user hit (issue 15.2): PGD and MI-FGSM at l0 return inputs outside the budget (the
 * l0 projection keeps every tied coordinate), PGD at a spatial threat crashed, CW-L2 at linf ran.
 */
const REFUSED: [attack: string, threat: string, supported: RegExp][] = [
  ['pgd', 'l0:5', /linf:EPS, l2:EPS or l1:EPS/],
  ['mifgsm', 'l0:5', /linf:EPS, l2:EPS or l1:EPS/],
  ['pgd', 'spatial:rot=30,trans=3', /linf:EPS, l2:EPS or l1:EPS/],
  ['cw-l2', 'linf:0.3', /supports l2:EPS$/],
];

test('CLI: an attack given a threat it does not support is refused in one line naming the supported threats, before any work or output', () => {
  const dir = mkdtempSync(join(tmpdir(), 'advtrain-support-'));
  for (const [attack, threat, supported] of REFUSED) {
    const json = join(dir, `${attack}.json`);
    // The model does not exist: the refusal must come before the model (or the data) is loaded.
    const r = cli('attack', '--model', join(dir, 'no-model'), '--dataset', 'mnist', '--attack', attack, '--threat', threat, '--n', '4', '--json', json);
    assertRefused(r, new RegExp(`attack ${attack} does not support the threat ${threat.replace(/[.]/g, '\\.')}: it supports`));
    assertRefused(r, supported);
    assert.ok(!existsSync(json), `${attack} at ${threat} wrote ${json}`);
  }
});

test('CLI: adversarial training at a threat its PGD/FGSM steps do not support is refused before the run directory is made', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'advtrain-support-')), 'run');
  const r = cli('train', '--dataset', 'mnist', '--method', 'pgd-at', '--threat', 'l0:5', '--n', '64', '--epochs', '1', '--out', out);
  assertRefused(r, /attack pgd does not support the threat l0:5: it supports linf:EPS, l2:EPS or l1:EPS/);
  assert.ok(!existsSync(out), 'no run directory');
});

test('CLI: --params with an unknown key is refused, listing the valid keys', () => {
  const dir = mkdtempSync(join(tmpdir(), 'advtrain-support-'));
  const json = join(dir, 'out.json');
  const r = cli('attack', '--model', join(dir, 'no-model'), '--dataset', 'mnist', '--attack', 'pgd', '--threat', 'linf:0.3', '--params', '{"nosuch":1}', '--json', json);
  assertRefused(r, /attack pgd has no parameter 'nosuch': its parameters are steps, stepSize, restarts, randomStart, loss, momentum/);
  assert.ok(!existsSync(json));
});

/** A 3-class model that counts its forward passes. */
function countingModel(d: number) {
  const w = tf.keep(tf.randomNormal([d, 3], 0, 1, 'float32', 5));
  const calls = { n: 0 };
  const clf = fromFunction(
    (x) => {
      calls.n++;
      return tf.matMul(tf.reshape(x, [-1, d]) as tf.Tensor2D, w);
    },
    { inputShape: [d], numClasses: 3, domain: { lower: 0, upper: 1 } },
  );
  return { clf, calls, dispose: () => w.dispose() };
}

test('library: createAttack, Attack.run, runAttack and evaluateEnsemble refuse an unsupported threat before any model query', async () => {
  await selectBackend('cpu');
  const d = 12;
  const { clf, calls, dispose } = countingModel(d);
  const x = tf.randomUniform([4, d], 0, 1, 'float32', 1);
  const y = tf.tensor1d([0, 1, 2, 0], 'int32');
  const ds: Dataset = { name: 'r', x: x.dataSync() as Float32Array, y: Int32Array.from([0, 1, 2, 0]), n: 4, shape: [d], numClasses: 3, classNames: ['a', 'b', 'c'], domain: { lower: 0, upper: 1 } };
  const before = tf.memory().numTensors;
  for (const [name, text, supported] of REFUSED) {
    const threat = parseAnyThreat(text);
    const message = new RegExp(`attack ${name} does not support the threat`);
    assert.throws(() => createAttack(name, {}, threat), (e: unknown) => e instanceof UserError && message.test(e.message) && supported.test(e.message));
    const attack = createAttack(name);
    await assert.rejects(attack.run(clf, x, y, { threat }), (e: unknown) => e instanceof UserError && message.test(e.message));
    await assert.rejects(runAttack(clf, ds, attack, { threat }), message);
    // The whole ensemble is checked before its first member (which does support the threat) runs.
    const fine = createAttack(attackNames().find((n) => supportsThreat(attackSupport(n), threat))!);
    await assert.rejects(evaluateEnsemble(clf, ds, { threat, members: [{ attack: fine, access: 'white-box' }, { attack, access: 'white-box' }] }), message);
  }
  assert.equal(calls.n, 0, 'no model query before the refusal');
  assert.equal(tf.memory().numTensors, before, 'refusals leak no tensors');
  assert.throws(() => createAttack('square', { params: { nosuch: 1, pInit: 0.5 } }), /attack square has no parameter 'nosuch': its parameters are maxQueries, pInit, loss/);
  tf.dispose([x, y]);
  dispose();
});

test('every attack declares its threats, access and parameter keys; its CLI defaults and declared keys are accepted', () => {
  for (const name of attackNames()) {
    const s = attackSupport(name);
    assert.ok(s.norms.length > 0 || s.spatial, `${name} declares no threat`);
    assert.ok(['gradient', 'scores', 'decision'].includes(s.access));
    assert.ok(s.params.length > 0);
    const a = createAttack(name);
    assert.equal(a.support, s, `${name}: the attack and the registry disagree`);
    // Every declared key is a real hyperparameter: it shows up in the attack's settings.
    for (const k of s.params) assert.ok(k in a.params || k === 'stepSize' || k === 'loss' || k === 'maxQueries', `${name}: '${k}' is not among its params`);
  }
  assert.match(attackHelp(), /cw-l2 .*\[gradient; l2:EPS\]/);
  assert.match(attackHelp(), /hopskipjump .*\[decision; l2:EPS or linf:EPS\]/);
});
