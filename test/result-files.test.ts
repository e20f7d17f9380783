import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/engine/backend.js';
import { saveModel } from '../src/model/io.js';
import { encodeIdx, readIdx } from '../src/data/idx.js';
import { encodePng, amplifiedPerturbation, exampleImages } from '../src/report/png.js';
import { cli } from './cli-helpers.js';

/** 4×4 grey images whose class is 1 when their mean brightness exceeds 0.5, and a model that knows it. */
async function tinyImages(root: string): Promise<{ dataset: string; models: string[] }> {
  const files: string[] = [];
  for (const [split, n] of [['train', 30], ['test', 20]] as const) {
    const px = new Uint8Array(n * 16);
    const y = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const level = Math.round(((i + 0.5) / n) * 255);
      for (let p = 0; p < 16; p++) px[i * 16 + p] = Math.max(0, Math.min(255, level + ((p * 29 + i * 7) % 21) - 10));
      let sum = 0;
      for (let p = 0; p < 16; p++) sum += px[i * 16 + p]! / 255;
      y[i] = sum / 16 > 0.5 ? 1 : 0;
    }
    writeFileSync(join(root, `${split}-images`), encodeIdx([n, 4, 4], 'uint8', px));
    writeFileSync(join(root, `${split}-labels`), encodeIdx([n], 'uint8', y));
    files.push(join(root, `${split}-images`), join(root, `${split}-labels`));
  }
  const models: string[] = [];
  for (const [name, k] of [['a', 10], ['b', 6]] as const) {
    const model = tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: [4, 4, 1] }), tfl.layers.dense({ units: 2 })] });
    model.setWeights([tf.tensor2d(Array.from({ length: 16 }, () => [0, k / 16])), tf.tensor1d([0, -k / 2])]);
    const dir = join(root, name);
    await saveModel(dir, model, { inputShape: [4, 4, 1], numClasses: 2, domain: { lower: 0, upper: 1 }, output: 'logits' });
    model.dispose();
    models.push(dir);
  }
  return { dataset: `idx:${files.join(',')}`, models };
}

test('attack@1 and transfer@1 result files and the saved examples keep their layout', async () => {
  await selectBackend('cpu');
  const root = mkdtempSync(join(tmpdir(), 'advtrain-results-'));
  const { dataset, models } = await tinyImages(root);

  const json = join(root, 'attack.json');
  const out = join(root, 'ex');
  const r = cli('attack', '--model', models[0]!, '--dataset', dataset, '--attack', 'pgd', '--threat', 'linf:0.1', '--steps', '10',
    '--n', '20', '--json', json, '--save-examples', out, '--keep', '3', '--backend', 'cpu');
  assert.equal(r.status, 0, r.stderr);
  const a = JSON.parse(readFileSync(json, 'utf8'));
  assert.deepEqual(Object.keys(a), ['schema', 'model', 'data', 'attack', 'clean_accuracy', 'robust_accuracy', 'success_rate', 'attacked', 'distance', 'queries', 'time_s', 'seed', 'engine', 'versions', 'created']);
  assert.equal(a.schema, 'advtrain/attack@1');
  assert.deepEqual(Object.keys(a.distance), ['norm', 'median', 'mean', 'max']);
  assert.deepEqual(Object.keys(a.queries), ['median', 'mean', 'max', 'total']);
  assert.ok(a.attacked > 3 && a.success_rate > 0, `the attack has something to show (${a.attacked}, ${a.success_rate})`);

  assert.deepEqual(readdirSync(out).sort(), ['0-adv.png', '0-clean.png', '0-perturbation.png', '1-adv.png', '1-clean.png', '1-perturbation.png',
    '2-adv.png', '2-clean.png', '2-perturbation.png', 'adversarial-images.idx', 'examples.json', 'labels.idx']);
  const ex = JSON.parse(readFileSync(join(out, 'examples.json'), 'utf8')) as { index: number; label: string; files: Record<string, string> }[];
  assert.equal(ex.length, 3);
  for (const e of ex) assert.deepEqual(Object.keys(e), ['index', 'label', 'clean', 'adversarial', 'files']);
  const adv = readIdx(join(out, 'adversarial-images.idx'));
  assert.deepEqual(adv.dims, [3, 4, 4, 1]);
  const test = readIdx(dataset.split(',')[2]!);
  for (let j = 0; j < 3; j++) {
    const xa = Float32Array.from(adv.data.slice(j * 16, (j + 1) * 16));
    const x = Float32Array.from(test.data.slice(ex[j]!.index * 16, (ex[j]!.index + 1) * 16), (v) => v / 255);
    assert.deepEqual(readFileSync(join(out, `${j}-adv.png`)), encodePng(xa, [4, 4, 1], { scale: 4 }));
    assert.deepEqual(readFileSync(join(out, `${j}-clean.png`)), encodePng(x, [4, 4, 1], { scale: 4 }));
    assert.deepEqual(readFileSync(join(out, `${j}-perturbation.png`)), encodePng(amplifiedPerturbation(x, xa), [4, 4, 1], { scale: 4 }));
  }

  const tjson = join(root, 'transfer.json');
  const t = cli('transfer', '--models', models.join(','), '--dataset', dataset, '--threat', 'linf:0.1', '--steps', '10', '--n', '20', '--json', tjson, '--backend', 'cpu');
  assert.equal(t.status, 0, t.stderr);
  const m = JSON.parse(readFileSync(tjson, 'utf8'));
  assert.deepEqual(Object.keys(m), ['schema', 'models', 'matrix', 'threat', 'attack', 'paths', 'n', 'seed', 'engine', 'versions', 'created']);
  assert.equal(m.schema, 'advtrain/transfer@1');
  assert.deepEqual(m.models, ['a', 'b']);
  assert.equal(m.attack, 'pgd-10');
});

test('exampleImages draws the gallery triple of image examples and nothing for tabular ones', () => {
  const x = Float32Array.from({ length: 16 }, (_, i) => i / 15);
  const xa = x.map((v, i) => Math.min(1, v + (i % 2 ? 0.1 : 0)));
  const png = exampleImages(x, xa, [4, 4, 1], 3)!;
  assert.deepEqual(png.clean, encodePng(x, [4, 4, 1], { scale: 3 }));
  assert.deepEqual(png.adversarial, encodePng(xa, [4, 4, 1], { scale: 3 }));
  assert.deepEqual(png.perturbation, encodePng(amplifiedPerturbation(x, xa), [4, 4, 1], { scale: 3 }));
  assert.equal(exampleImages(x, xa, [16], 3), undefined);
  assert.equal(exampleImages(x.subarray(0, 8), xa.subarray(0, 8), [2, 2, 2], 3), undefined, 'two channels cannot be drawn');
});
