import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/engine/backend.js';
import { fromFunction } from '../src/model/classifier.js';
import type { Dataset } from '../src/data/dataset.js';
import { Rng } from '../src/data/rng.js';
import { lpThreat } from '../src/threat/threat-model.js';
import { parseAnyThreat } from '../src/threat/parse.js';
import { attackNames, attackSupport, createAttack, defaultThreatFor } from '../src/attacks/registry.js';
import { runAttack } from '../src/eval/attack-run.js';
import { loadDataset } from '../src/data/index.js';
import { subset } from '../src/data/batching.js';
import { buildZooModel } from '../src/model/zoo.js';
import { fromLayersModel } from '../src/model/classifier.js';
import { train } from '../src/training/trainer.js';
import { makeStrategy } from '../src/training/strategies/index.js';
import { Fgsm } from '../src/attacks/fgsm.js';
import { Pgd } from '../src/attacks/pgd.js';
import { Apgd } from '../src/attacks/apgd.js';

/** Small, fast settings so every attack runs in a property test. */
const FAST: Record<string, Record<string, unknown>> = {
  fgsm: {}, pgd: { steps: 10 }, mifgsm: { steps: 5 }, 'apgd-ce': { steps: 10 }, 'apgd-dlr': { steps: 10, targetClasses: 2 }, fab: { steps: 10 },
  deepfool: { steps: 10 }, 'cw-l2': { binarySteps: 2, steps: 20 }, square: { maxQueries: 60 }, hopskipjump: { maxQueries: 200, iterations: 4, initEvals: 10 },
  genattack: { maxQueries: 60 }, de: { population: 8, iterations: 3 }, jsma: {}, spatial: { mode: 'random', samples: 3 },
};

test('every attack keeps every adversarial example inside its budget and the (per-feature) domain, over many random cases', async () => {
  await selectBackend('cpu');
  const rng = new Rng(11);
  const d = 12;
  const covered = new Set<string>();
  for (let trial = 0; trial < 3; trial++) {
    // A random 2-layer ReLU network over a random per-feature box.
    const w1 = tf.keep(tf.randomNormal([d, 16], 0, 1, 'float32', 100 + trial));
    const w2 = tf.keep(tf.randomNormal([16, 3], 0, 1, 'float32', 200 + trial));
    const lower = Float32Array.from({ length: d }, () => -1 - rng.next());
    const upper = Float32Array.from({ length: d }, () => 1 + rng.next());
    const clf = fromFunction((x) => tf.matMul(tf.relu(tf.matMul(tf.reshape(x, [-1, d]) as tf.Tensor2D, w1)), w2), { inputShape: [d], numClasses: 3, domain: { lower, upper } });
    const n = 12;
    const x = Float32Array.from({ length: n * d }, (_, i) => lower[i % d]! + (upper[i % d]! - lower[i % d]!) * rng.next());
    const preds = tf.tidy(() => tf.argMax(clf.logits(tf.tensor2d(x, [n, d])), 1)).dataSync();
    const ds: Dataset = { name: 'random', x, y: Int32Array.from(preds), n, shape: [d], numClasses: 3, classNames: ['a', 'b', 'c'], domain: { lower, upper } };
    for (const name of attackNames()) {
      if (name === 'spatial') continue; // image transforms: covered by attacks-spatial.test.ts
      // Every norm the registry declares for the attack: the declaration is checked here.
      for (const norm of attackSupport(name).norms) {
        const eps = norm === 'l0' ? 1 + rng.int(4) : norm === 'linf' ? 0.05 + rng.next() * 0.5 : 0.1 + rng.next() * 2;
        const before = tf.memory().numTensors;
        // runAttack re-measures every result and throws if one leaves the ball or the domain.
        const r = await runAttack(clf, ds, createAttack(name, { params: FAST[name] }), { threat: lpThreat(norm, eps), seed: trial });
        assert.equal(tf.memory().numTensors, before, `${name} ${norm} leaks tensors`);
        assert.ok(r.distance.max === null || r.distance.max <= eps * (1 + 1e-5) + 1e-5, `${name} ${norm}: ${r.distance.max} > ${eps}`);
        covered.add(name);
      }
    }
    tf.dispose([w1, w2]);
  }
  assert.deepEqual([...covered].sort(), attackNames().filter((a) => a !== 'spatial').sort());
});

test('every attack runs with its CLI defaults from its name alone', () => {
  for (const name of attackNames()) {
    const a = createAttack(name);
    assert.equal(typeof a.run, 'function');
    assert.ok(parseAnyThreat(defaultThreatFor(name, 784)));
  }
});

test('strength and ordering on real models: PGD-40 breaks a standard mnist-small at ε = 0.3; on an FGSM-RS model PGD ≤ FGSM and APGD ≤ PGD + 0.5 pt', async () => {
  await selectBackend('wasm');
  const data = await loadDataset('mnist');
  const test300 = subset(data.test, 300);
  const standard = fromLayersModel(buildZooModel('mnist-small', { inputShape: [28, 28, 1], numClasses: 10, seed: 5 }), { domain: data.train.domain });
  await train(standard, subset(data.train, 6000), undefined, { epochs: 1, batchSize: 64, optimizer: 'adam', schedule: { kind: 'cyclic', lr: 4e-3, peakAt: 0.4 }, seed: 5 });
  const threat = lpThreat('linf', 0.3);
  const pgd40 = await runAttack(standard, test300, new Pgd({ steps: 40, stepSize: 0.01 }), { threat, seed: 1 });
  assert.ok(pgd40.clean_accuracy > 0.9, `clean ${pgd40.clean_accuracy}`);
  assert.ok(pgd40.robust_accuracy <= 0.01, `PGD-40 leaves ${pgd40.robust_accuracy}`);

  const robust = fromLayersModel(buildZooModel('mnist-small', { inputShape: [28, 28, 1], numClasses: 10, seed: 6 }), { domain: data.train.domain });
  const t = lpThreat('linf', 0.1);
  await train(robust, subset(data.train, 6000), undefined, {
    epochs: 2, batchSize: 100, optimizer: 'adam', schedule: { kind: 'cyclic', lr: 5e-3, peakAt: 0.4 }, seed: 6,
    strategy: makeStrategy('fgsm-rs', { eps: 0.1 }), threat: t,
  });
  const fgsm = await runAttack(robust, test300, new Fgsm(), { threat: t, seed: 2 });
  const pgd = await runAttack(robust, test300, new Pgd({ steps: 40 }), { threat: t, seed: 2 });
  const apgd = await runAttack(robust, test300, new Apgd({ steps: 100 }), { threat: t, seed: 2 });
  assert.ok(pgd.robust_accuracy > 0.2, `the FGSM-RS model has some robustness (PGD ${pgd.robust_accuracy})`);
  assert.ok(pgd.robust_accuracy <= fgsm.robust_accuracy, `PGD ${pgd.robust_accuracy} ≤ FGSM ${fgsm.robust_accuracy}`);
  assert.ok(apgd.robust_accuracy <= pgd.robust_accuracy + 0.005, `APGD ${apgd.robust_accuracy} ≤ PGD ${pgd.robust_accuracy} + 0.5 pt`);
  standard.model.dispose();
  robust.model.dispose();
});
