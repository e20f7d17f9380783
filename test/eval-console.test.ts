/**
 * What a user sees of an evaluation besides the headline figures: progress that advances,
 * checks that say when they had nothing to test, the command that reproduces the result, a
 * gallery with surviving examples and a per-class breakdown. A tiny three-class linear model on
 * 4×4 "images" keeps every run to seconds.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/engine/backend.js';
import type { Dataset } from '../src/data/dataset.js';
import { fromFunction, type Classifier } from '../src/model/classifier.js';
import { parseThreat } from '../src/threat/threat-model.js';
import { evaluate, type EvaluateOptions } from '../src/eval/evaluate.js';

const D = 16;
const CLASSES = 3;

/** Class c lights pixels 5c..5c+4 (0.7 ± noise on 0.3 ± noise): margin 2 in logits, linf radius ~0.2. */
function blocks(n: number, seed: number): Dataset {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const x = new Float32Array(n * D);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % CLASSES;
    for (let j = 0; j < D; j++) x[i * D + j] = (Math.floor(j / 5) === y[i] ? 0.7 : 0.3) + 0.16 * (rand() - 0.5);
  }
  return { name: 'blocks/test', x, y, n, shape: [4, 4, 1], numClasses: CLASSES, classNames: ['a', 'b', 'c'], domain: { lower: 0, upper: 1 } };
}

function blockModel(): Classifier {
  const w = new Float32Array(D * CLASSES);
  for (let j = 0; j < 15; j++) w[j * CLASSES + Math.floor(j / 5)] = 1;
  const wt = tf.keep(tf.tensor2d(w, [D, CLASSES]));
  return fromFunction((x) => tf.matMul(tf.reshape(x, [x.shape[0]!, D]), wt), { inputShape: [4, 4, 1], numClasses: CLASSES, domain: { lower: 0, upper: 1 } });
}

let clf: Classifier;
let ds: Dataset;
const describe: EvaluateOptions['describe'] = {
  model: { path: 'mem' },
  dataset: 'blocks',
  engine: { backend: 'cpu' },
  versions: { advtrain: '0', tfjs: tf.version_core, node: process.version },
};

before(async () => {
  await selectBackend('cpu');
  clf = blockModel();
  ds = blocks(24, 7);
});

test('every progress stage of evaluate() advances and ends at N/N', async () => {
  const events: { stage: string; done: number; total: number }[] = [];
  await evaluate(clf, ds, {
    threat: parseThreat('linf:0.15'),
    preset: 'quick',
    epsCurve: [0, 0.1, 0.2],
    curveN: 24,
    minimalNorms: ['linf'],
    minimalN: 24,
    checkN: 24,
    gallery: 0,
    describe,
    onProgress: (stage, done, total) => events.push({ stage, done, total }),
  });
  const stages = [...new Set(events.map((e) => e.stage))];
  for (const s of ['margin', 'eps-curve', 'minimal', 'checks']) assert.ok(stages.includes(s), `stage ${s} reported (${stages.join(', ')})`);
  for (const s of stages) {
    const seen = events.filter((e) => e.stage === s);
    const last = seen[seen.length - 1]!;
    assert.equal(last.done, last.total, `${s} ends at ${last.total}/${last.total}, not ${last.done}/${last.total}`);
    assert.ok(seen.every((e, i) => e.total === last.total && (i === 0 || e.done >= seen[i - 1]!.done)), `${s} only advances: ${JSON.stringify(seen)}`);
  }
  assert.deepEqual(events.filter((e) => e.stage === 'checks').map((e) => e.done), [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual(events.filter((e) => e.stage === 'eps-curve').map((e) => e.done), [0, 1, 2, 3]);
});
