import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/engine/backend.js';
import { parseAnyThreat } from '../src/threat/parse.js';
import type { AnyThreat } from '../src/threat/threat.js';

test('every threat has a kind, a budget, a measure, check and scaled', async () => {
  await selectBackend('cpu');
  const linf = parseAnyThreat('linf:0.3');
  const spatial = parseAnyThreat('spatial:rot=30,trans=3,scale=0.9-1.1');
  assert.equal(linf.kind, 'norm');
  assert.equal(spatial.kind, 'spatial');
  assert.deepEqual([linf.budget, linf.measure, spatial.budget, spatial.measure], [0.3, 'linf', 1, 'spatial']);

  const x = tf.zeros([2, 4]);
  const xAdv = tf.tensor2d([[0.3, -0.1, 0, 0], [0, 0.31, 0, 0]]);
  const c = linf.check(x, xAdv);
  assert.deepEqual(Array.from(c.inside), [1, 0]);
  assert.deepEqual(Array.from(c.distance), [0.3, 0.31].map(Math.fround));
  // A spatial threat checks the attack's reported transform sizes; without them nothing is inside.
  assert.deepEqual(Array.from(spatial.check(x, xAdv, [0.5, 1.2]).inside), [1, 0]);
  assert.deepEqual(Array.from(spatial.check(x, xAdv).inside), [0, 0]);

  const scaled = (t: AnyThreat, f: number) => t.scaled(f).toString();
  assert.equal(scaled(linf, 0.5), 'linf:0.15');
  assert.equal(scaled(parseAnyThreat('l0:5'), 0.5), 'l0:2');
  assert.equal(scaled(spatial, 0.5), 'spatial:rot=15,trans=1.5,scale=0.95-1.05');
  tf.dispose([x, xAdv]);
});
