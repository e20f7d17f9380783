import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/engine/backend.js';
import { lpThreat, type Norm } from '../src/threat/threat-model.js';
import { Pgd } from '../src/attacks/pgd.js';
import { Fgsm } from '../src/attacks/fgsm.js';
import { linearClassifier, norms, W, X, dual } from './helpers.js';



for (const norm of ['linf', 'l2', 'l1'] as const) {
  test(`PGD-${norm} on a linear model succeeds at 1.02× the closed-form minimal ε and fails at 0.98×`, async () => {
    await selectBackend('cpu');
    const { clf, f } = linearClassifier(W, 0);
    const x = tf.tensor2d(X);
    const y = tf.tensor1d([0, 0, 0], 'int32');
    const before = tf.memory().numTensors;
    for (let i = 0; i < X.length; i++) {
      const minEps = Math.abs(f(X[i]!)) / dual[norm](W);
      for (const [scale, expect] of [[1.02, 1], [0.98, 0]] as const) {
        const threat = lpThreat(norm as Norm, minEps * scale);
        const xi = tf.slice(x, [i, 0], [1, -1]);
        const yi = tf.slice(y, [i], [1]);
        const r = await new Pgd({ steps: 100, stepSize: (minEps * scale) / 20, randomStart: false }).run(clf, xi, yi, { threat });
        assert.equal(r.success[0], expect, `x${i} ε=${scale}×min (${(minEps * scale).toFixed(4)}): success ${r.success[0]}`);
        assert.ok(r.distance[0]! <= minEps * scale + 1e-5, `distance ${r.distance[0]} within budget`);
        tf.dispose([r.xAdv, xi, yi]);
      }
    }
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([x, y]);
  });
}

test('FGSM-Linf on a linear model is exact: one signed step of ε reaches the boundary iff ε ≥ minimum', async () => {
  await selectBackend('cpu');
  const { clf, f } = linearClassifier(W, 0);
  const x = tf.tensor2d([X[0]!]);
  const y = tf.tensor1d([0], 'int32');
  const minEps = f(X[0]!) / norms.l1(W);
  for (const [scale, expect] of [[1.01, 1], [0.99, 0]] as const) {
    const r = await new Fgsm().run(clf, x, y, { threat: lpThreat('linf', minEps * scale) });
    assert.equal(r.success[0], expect);
    assert.ok(Math.abs(r.distance[0]! - minEps * scale) < 1e-5);
    r.xAdv.dispose();
  }
  tf.dispose([x, y]);
});
