import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/engine/backend.js';
import { fromFunction, type Classifier } from '../src/model/classifier.js';
import { saveModel } from '../src/model/io.js';
import { Pgd } from '../src/attacks/pgd.js';
import { parseThreat } from '../src/threat/threat-model.js';
import { runAttack } from '../src/eval/attack-run.js';
import { transferAttack, transferMatrix } from '../src/eval/transfer.js';
import { loadDataset } from '../src/data/index.js';
import type { Dataset } from '../src/data/dataset.js';
import { cli } from './cli-helpers.js';

/**
 * Two features in [0, 1]; the class is 1 where x0 > 0.5 (x1 is noise). 200 evenly spaced rows,
 * so the min-max scaling of the CSV loader is the identity.
 */
function rows(): { x0: number; x1: number; y: number }[] {
  return Array.from({ length: 200 }, (_, i) => ({ x0: i / 199, x1: ((i * 37) % 200) / 199, y: i / 199 > 0.5 ? 1 : 0 }));
}

function toyDataset(): Dataset {
  const r = rows();
  return {
    name: 'toy',
    x: Float32Array.from(r.flatMap((e) => [e.x0, e.x1])),
    y: Int32Array.from(r.map((e) => e.y)),
    n: r.length,
    shape: [2],
    numClasses: 2,
    classNames: ['0', '1'],
    domain: { lower: 0, upper: 1 },
  };
}

/** Logits [0, k·(x0 − b)]: class 1 where x0 > b (k < 0 flips the sides). */
function threshold(b: number, k = 10): Classifier {
  return fromFunction((x) => tf.tidy(() => {
    const z = tf.mul(tf.sub(tf.slice(x, [0, 0], [x.shape[0]!, 1]), b), k);
    return tf.concat([tf.zerosLike(z), z], 1);
  }), { inputShape: [2], numClasses: 2, domain: { lower: 0, upper: 1 } });
}

const pgd = () => new Pgd({ steps: 20, randomStart: false });

test('transferAttack attacks every example the target gets right and reports the target’s figures', async () => {
  await selectBackend('cpu');
  const ds = toyDataset();
  const target = threshold(0.5);
  const surrogate = threshold(0.6);
  const before = tf.memory().numTensors;
  const r = await transferAttack(target, surrogate, ds, pgd(), { threat: parseThreat('linf:0.2'), keepExamples: 200 });
  assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
  // The target is exact, so all 200 are attacked, also the ones with x0 in (0.5, 0.6] the surrogate gets wrong.
  const surrogateWrong = rows().filter((e) => e.x0 > 0.5 && e.x0 <= 0.6).length;
  assert.ok(surrogateWrong > 0);
  assert.equal(r.clean_accuracy, 1);
  assert.equal(r.attacked, 200);
  assert.equal(r.surrogate.already_misclassified, surrogateWrong);
  assert.equal(r.surrogate.clean_accuracy, (200 - surrogateWrong) / 200);
  assert.equal(r.kept.length, 200);
  // Target-side figures: success is the fraction of the target's correct examples it now gets wrong.
  let fooled = 0;
  for (const k of r.kept) {
    const targetSays = k.xAdv[0]! > 0.5 ? 1 : 0;
    assert.equal(k.predAdv, targetSays, `example ${k.index}: the kept prediction is the target's`);
    assert.equal(k.predClean, k.label);
    if (targetSays !== k.label) fooled++;
  }
  assert.equal(r.success_rate, fooled / 200);
  assert.ok(Math.abs(r.robust_accuracy - (1 - fooled / 200)) < 1e-12);
  assert.equal(r.queries.median, 0, 'crafting never queries the target');
  assert.ok(r.surrogate.queries.median! > 0);
  // The examples only the target gets right are pushed away from their class too, not sent clean:
  // x0 in (0.5, 0.6] moves down (until the surrogate is wrong by the shifted margin, at most ε),
  // below the target's boundary.
  for (const k of r.kept.filter((e) => e.x[0]! > 0.5 && e.x[0]! <= 0.6)) {
    const moved = k.x[0]! - k.xAdv[0]!;
    assert.ok(moved >= 0.1 - 1e-5 && moved <= 0.2 + 1e-5, `example ${k.index} moved by ${moved}`);
    assert.equal(k.predAdv, 0, `example ${k.index} fools the target`);
  }
  // Class-0 points within ε of the boundary cross it (20%), class-1 points above 0.6 stop at the
  // surrogate's boundary and fool only it, and the 10% the surrogate got wrong now fool the target.
  assert.ok(Math.abs(r.success_rate - 0.3) <= 0.01, String(r.success_rate));
  assert.equal(r.distance.max! <= 0.2 + 1e-5, true);
});

test('the transfer matrix counts a target’s clean errors as not robust, even where a perturbation happens to fix them', async () => {
  await selectBackend('cpu');
  const ds = toyDataset();
  const good = threshold(0.5);
  const inverted = threshold(0.5, -10); // wrong on every clean input
  const threat = parseThreat('linf:0.2');
  const m = await transferMatrix([good, inverted], ds, threat, pgd());
  // Crafted on `good`, class-0 points near 0.5 cross to x0 > 0.5, where `inverted` says 0: right by accident.
  assert.equal(m[1]![0], 0, 'a model wrong on every clean input has 0% accuracy under transfer');
  assert.equal(m[1]![1], 0);
  const white = await runAttack(good, ds, pgd(), { threat });
  assert.equal(m[0]![0], white.robust_accuracy, 'the diagonal is the white-box robust accuracy');
});

test('attack --surrogate records the surrogate and reports and saves the target’s figures', async () => {
  await selectBackend('cpu');
  const root = mkdtempSync(join(tmpdir(), 'advtrain-transfer-'));
  const csv = join(root, 'toy.csv');
  writeFileSync(csv, 'x0,x1,label\n' + rows().map((e) => `${e.x0},${e.x1},${e.y}`).join('\n') + '\n');
  const save = async (dir: string, b: number) => {
    const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 2, inputShape: [2] })] });
    model.setWeights([tf.tensor2d([[0, 10], [0, 0]]), tf.tensor1d([0, -10 * b])]);
    await saveModel(dir, model, { inputShape: [2], numClasses: 2, domain: { lower: [0, 0], upper: [1, 1] }, output: 'logits' });
    model.dispose();
  };
  const targetDir = join(root, 'target');
  const surrogateDir = join(root, 'surrogate');
  await save(targetDir, 0.5);
  await save(surrogateDir, 0.6);
  const { test: split } = await loadDataset(csv);
  const xs = Array.from({ length: split.n }, (_, i) => split.x[i * 2]!);
  const surrogateWrong = xs.filter((v) => v > 0.5 && v <= 0.6).length;
  assert.ok(surrogateWrong > 0, 'the test split holds examples only the target gets right');

  const json = join(root, 'r.json');
  const out = join(root, 'ex');
  const r = cli('attack', '--model', targetDir, '--surrogate', surrogateDir, '--dataset', csv, '--attack', 'pgd', '--params', '{"randomStart":false}',
    '--steps', '20', '--threat', 'linf:0.2', '--n', '40', '--json', json, '--save-examples', out, '--keep', '40', '--backend', 'cpu');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`crafted on the surrogate for the ${split.n} examples the target classifies correctly .*${surrogateWrong} already misclassified`));
  const j = JSON.parse(readFileSync(json, 'utf8'));
  assert.equal(j.surrogate.path, surrogateDir);
  assert.equal(j.surrogate.already_misclassified, surrogateWrong);
  assert.equal(j.clean_accuracy, 1);
  assert.equal(j.attacked, split.n, 'every example the target gets right is attacked');
  assert.ok(Math.abs(j.success_rate - (1 - j.robust_accuracy)) < 1e-9, 'success rate is the target’s');
  assert.equal(j.queries.median, 0);
  const examples = JSON.parse(readFileSync(join(out, 'examples.json'), 'utf8')) as { index: number; label: string; clean: { prediction: string } }[];
  assert.equal(examples.length, split.n);
  for (const e of examples) assert.equal(e.clean.prediction, e.label, `example ${e.index}: the saved clean prediction is the target's`);
});
