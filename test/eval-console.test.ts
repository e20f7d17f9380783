/**
 * What a user sees of an evaluation besides the headline figures: progress that advances,
 * checks that say when they had nothing to test, the command that reproduces the result, a
 * gallery with surviving examples and a per-class breakdown. A tiny three-class linear model on
 * 4×4 "images" keeps every run to seconds.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/engine/backend.js';
import type { Dataset } from '../src/data/dataset.js';
import { fromFunction, type Classifier } from '../src/model/classifier.js';
import { parseThreat } from '../src/threat/threat-model.js';
import { evaluate, galleryPicks, type EvaluateOptions } from '../src/eval/evaluate.js';
import { validateEvalResult } from '../src/eval/validate-result.js';
import { summarise } from '../src/cli/eval.js';
import { renderReport } from '../src/report/html.js';
import { saveModel } from '../src/model/io.js';
import { BIN } from './cli-helpers.js';

const D = 16;
const CLASSES = 3;

/** Class c lights pixels 5c..5c+4 (0.7 ± noise on 0.3 ± noise): logit margin ≈ 2, so linf radius ≈ 0.2 (about half survive linf:0.2). */
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

test('at 0% robust accuracy the checks with nothing to attack say not applicable, with the reason, everywhere', async () => {
  const r = await evaluate(clf, ds, { threat: parseThreat('linf:1'), preset: 'quick', checkN: 24, gallery: 2, describe });
  assert.equal(r.robust_accuracy, 0);
  assert.ok(r.clean_accuracy > 0.9, `the model is right on clean inputs (${r.clean_accuracy})`);
  const verdict = (re: RegExp) => r.checks.find((c) => re.test(c.name))!;
  for (const re of [/single-step/, /unbounded/, /black-box/, /more steps/]) {
    const c = verdict(re);
    assert.equal(c.verdict, 'not-applicable', `${c.name}: ${c.verdict} (${c.detail})`);
    assert.match(c.detail, /no example of the 24 survived the ensemble \(robust accuracy 0\.0%\)/);
  }
  assert.equal(verdict(/gradients/).verdict, 'pass', 'the gradients are still measured');
  validateEvalResult(JSON.parse(JSON.stringify(r)));

  const text = summarise(r);
  assert.match(text, /check \[N\/A \] iterative attacks beat single-step: not applicable, no example/);
  assert.doesNotMatch(text, /⚠/, 'not applicable is no warning');
  const html = await renderReport(r);
  assert.match(html, /<span class="verdict not-applicable">not applicable<\/span><\/td><td><b>more steps and restarts change little/);
  assert.match(html, /checks had nothing to test on this result/);
  assert.doesNotMatch(html, /⚠/);

  // With survivors, the same checks test something again.
  const r2 = await evaluate(clf, ds, { threat: parseThreat('linf:0.05'), preset: 'quick', checkN: 24, gallery: 0, describe });
  assert.ok(r2.robust_accuracy > 0);
  assert.ok(r2.checks.every((c) => c.verdict !== 'not-applicable'), JSON.stringify(r2.checks));
});

test('a library evaluation records the call that reproduces it, and the report shows it', async () => {
  const r = await evaluate(clf, ds, { threat: parseThreat('linf:0.15'), preset: 'quick', seed: 3, checks: false, gallery: 0, describe });
  assert.equal(r.command?.call, "evaluate(classifier, first 24 of blocks/test, { threat: 'linf:0.15', preset: 'quick', seed: 3, checks: false, gallery: 0 })");
  validateEvalResult(JSON.parse(JSON.stringify(r)));
  const html = await renderReport(r);
  assert.match(html, /<div class="k">Library call<\/div><pre><code>evaluate\(classifier, first 24 of blocks\/test, \{ threat: &#39;linf:0\.15&#39;/);

  const given = { ...r, command: { argv: ['advtrain', 'eval', '--model', "it's <b>", '--n', '24'], cwd: '/home/u' } };
  const html2 = await renderReport(given);
  assert.match(html2, /<pre><code>advtrain eval --model &#39;it&#39;\\&#39;&#39;s &lt;b&gt;&#39; --n 24<\/code><\/pre><div class="d">in <code>\/home\/u<\/code>/);
  assert.throws(() => validateEvalResult({ ...given, command: { argv: [] } }), /command\.argv must be a non-empty array/);
  assert.throws(() => validateEvalResult({ ...given, command: { cwd: '/' } }), /command must be an object with argv or call/);
});

test('advtrain eval records its command line as run and the working directory in the JSON and the report', async () => {
  const root = mkdtempSync(join(tmpdir(), 'advtrain-cmd-'));
  const model = tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: [28, 28, 1] }), tfl.layers.dense({ units: 10, kernelInitializer: 'zeros' })] });
  await saveModel(join(root, 'm'), model, { inputShape: [28, 28, 1], numClasses: 10, domain: { lower: 0, upper: 1 }, output: 'logits' });
  const args = ['eval', '--model', 'm', '--dataset', 'mnist', '--n', '12', '--preset', 'quick', '--no-checks', '--gallery', '0', '--backend', 'cpu', '--json', 'out.json', '--report', 'r.html'];
  const run = spawnSync(process.execPath, [BIN, ...args], { cwd: root, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const r = validateEvalResult(JSON.parse(readFileSync(join(root, 'out.json'), 'utf8')));
  assert.deepEqual(r.command, { argv: ['advtrain', ...args], cwd: realpathSync(root) });
  assert.match(readFileSync(join(root, 'r.html'), 'utf8'), /advtrain eval --model m --dataset mnist --n 12 --preset quick --no-checks --gallery 0 --backend cpu --json out\.json --report r\.html/);
  rmSync(root, { recursive: true, force: true });
});

test('the gallery shows surviving examples beside broken ones, each labelled', async () => {
  assert.deepEqual(galleryPicks(Int8Array.from([0, 1, -1, 0, -2, -1, 1, -1]), 4), [0, 1, 2, 5]);
  assert.deepEqual(galleryPicks(Int8Array.from([0, -1, -1, -1, -1]), 4), [0, 1, 2, 3], 'survivors fill in for missing broken ones');
  assert.deepEqual(galleryPicks(Int8Array.from([0, 1, 0, 1, -1, -2]), 4), [0, 1, 2, 4], 'and broken ones for missing survivors');

  const r = await evaluate(clf, ds, { threat: parseThreat('linf:0.2'), preset: 'quick', checks: false, gallery: 6, describe });
  assert.ok(r.robust_accuracy > 0.2 && r.robust_accuracy < 0.8, `a mix of broken and surviving examples (${r.robust_accuracy})`);
  assert.deepEqual(r.gallery.map((g) => g.outcome), ['broken', 'broken', 'broken', 'survived', 'survived', 'survived']);
  for (const g of r.gallery) assert.equal(g.adversarial.prediction !== g.label, g.outcome === 'broken', `#${g.index}`);
  const html = await renderReport(validateEvalResult(JSON.parse(JSON.stringify(r))));
  assert.equal((html.match(/<span class="gout broken">broken<\/span>/g) ?? []).length, 3);
  assert.equal((html.match(/<span class="gout survived">survived<\/span>/g) ?? []).length, 3);
  assert.match(html, /6 examples: 3 <b>broken<\/b> by an attack, 3 that <b>survived<\/b> every attack/);
});

test('the result breaks robust accuracy down per true class, and the report shows the table', async () => {
  const r = await evaluate(clf, ds, { threat: parseThreat('linf:0.2'), preset: 'quick', checks: false, gallery: 0, describe });
  const rows = r.per_class!;
  assert.deepEqual(rows.map((c) => [c.label, c.n]), [[0, 8], [1, 8], [2, 8]]);
  assert.equal(rows.reduce((s, c) => s + c.clean_correct, 0), Math.round(r.clean_accuracy * ds.n));
  assert.equal(rows.reduce((s, c) => s + c.robust, 0), Math.round(r.robust_accuracy * ds.n));
  for (const c of rows) {
    assert.equal(c.robust_accuracy, c.robust / c.n);
    assert.equal(c.clean_accuracy, c.clean_correct / c.n);
  }
  validateEvalResult(JSON.parse(JSON.stringify(r)));
  const html = await renderReport(r);
  assert.match(html, /<section id="per-class">/);
  for (const c of rows) {
    assert.match(html, new RegExp(`<td><b>${'abc'[c.label]}</b> <span class="muted">\\(${c.label}\\)</span></td><td class="n">8</td><td class="n">${c.clean_correct}</td><td class="n">[\\d.]+%</td><td class="n">${c.robust}</td>`));
  }
  assert.throws(() => validateEvalResult({ ...r, per_class: [{ ...rows[0]!, robust: rows[0]!.clean_correct + 1 }] }), /per_class\[0\]\.robust must be at most clean_correct/);
});
