import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/engine/backend.js';
import { textThreat } from '../src/threat/text-threat.js';
import { createTextAttack } from '../src/text/attack/recipes.js';
import { TextAttack } from '../src/text/attack/text-attack.js';
import { wordNetSwap } from '../src/text/attack/transformations.js';
import { runTextAttack } from '../src/eval/text-attack-run.js';
import { evaluateText } from '../src/eval/text-eval.js';
import { writeTextExamples } from '../src/eval/text-examples-writer.js';
import { validateEvalResult } from '../src/eval/validate-result.js';
import { renderReport } from '../src/report/html.js';
import { highlightChanges } from '../src/report/text-section.js';
import type { TextDataset } from '../src/data/text-dataset.js';
import { fixtureClassifier, fixtureTokenizer, spamMessages } from './text-fixture.js';

before(async () => {
  await selectBackend('cpu');
});

/** 24 spam messages (one with markup in it), 6 ham, and one ham the model takes for spam. */
function dataset(): TextDataset {
  const spam = spamMessages(24, 21);
  spam[3] = '<script>alert(1)</script> ' + spam[3];
  const ham = ['thanks for the meeting report', 'the project agenda for the week', 'please review the schedule', 'colleague meeting today', 'report and agenda', 'thanks, see the project review'];
  const texts = [...spam, ...ham, 'free cash prize winner, thanks'];
  const y = Int32Array.from([...spam.map(() => 1), ...ham.map(() => 0), 0]);
  return { name: 'fixture-spam', texts, y, n: texts.length, numClasses: 2, classNames: ['ham', 'spam'] };
}

test('runner: only correctly classified spam is attacked, every success re-verified; a lying attack is caught', async () => {
  const clf = fixtureClassifier();
  const ds = dataset();
  const threat = textThreat(fixtureTokenizer);
  const r = await runTextAttack(clf, ds, createTextAttack('pwws'), { threat, seed: 0 });
  assert.equal(r.attacked, 24, 'the 24 spam messages; ham and the misclassified ham are not attacked');
  assert.ok(r.examples.every((e) => e.label === 'spam' && e.index < 24));
  assert.ok(r.succeeded > 12, `${r.succeeded}/24`);
  assert.equal(r.unverified, 0);
  for (const e of r.examples.filter((x) => x.success)) {
    const pred = tf.tidy(() => tf.argMax(clf.logitsOfTexts([e.adversarial]), 1).dataSync()[0]);
    assert.equal(ds.classNames[pred!], e.predicted_after);
    assert.ok(e.share > 0 && e.share <= 0.1);
  }
  // A search that claims success without changing anything.
  const liar = new TextAttack('liar', { transformation: wordNetSwap(), search: { name: 'liar', search: (s) => ({ ...s, success: true }) } });
  const l = await runTextAttack(clf, ds, liar, { threat, seed: 0, rows: [0, 1, 2] });
  assert.equal(l.succeeded, 0);
  assert.equal(l.unverified, 3);
});

test('evaluateText: worst case over the five attacks, a valid eval@2 file with a text section, JSONL examples, an escaped HTML report', async () => {
  const clf = fixtureClassifier();
  const ds = dataset();
  const threat = textThreat(fixtureTokenizer);
  const n0 = tf.memory().numTensors;
  const { result, examples } = await evaluateText(clf, ds, { threat, seed: 0 });
  assert.equal(tf.memory().numTensors, n0);
  validateEvalResult(JSON.parse(JSON.stringify(result)));
  const t = result.text!;
  assert.equal(result.preset, 'text');
  assert.equal(result.threat, 'words:0.1');
  assert.equal(t.attacked, 24);
  assert.equal(t.attacks.length, 5);
  assert.equal(t.attacks[0]!.attacked, 24, 'the first attack sees every attacked message');
  for (let k = 1; k < 5; k++) assert.ok(t.attacks[k]!.attacked <= t.attacks[k - 1]!.attacked, 'later attacks run on survivors only');
  const broken = examples.filter((e) => e.success).length;
  assert.equal(t.success_rate, broken / 24);
  assert.ok(t.success_rate >= t.attacks[0]!.success_rate);
  assert.equal(result.clean_accuracy, 30 / 31);
  assert.equal(result.robust_accuracy, (30 - broken) / 31);
  assert.ok(result.margin.gap.margin > 0, 'attacks lower the margin');
  assert.equal(examples.length, 24);

  const dir = mkdtempSync(join(tmpdir(), 'textatk-'));
  const file = join(dir, 'ex.jsonl');
  writeTextExamples(file, examples);
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 24);
  for (const k of ['index', 'original', 'adversarial', 'label', 'predicted_before', 'predicted_after', 'changed_words', 'queries']) assert.ok(k in lines[0], k);
  assert.ok(!existsSync(file + '.tmp'));

  const html = await renderReport(result);
  assert.match(html, /<section id="text">/);
  assert.match(html, /worst case/);
  assert.ok(!html.includes('<script>alert'), 'message text is escaped');
  if (t.examples.some((x) => x.original.includes('<script>'))) assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.match(html, /<ins>/);
});

test('highlightChanges marks only the changed words and escapes everything', () => {
  const h = highlightChanges('Buy <b>cheap</b> pills at http://x.biz', 'Buy <b>cheap</b> remedies at http://x.biz');
  assert.equal(h.adversarial, 'Buy &lt;b&gt;cheap&lt;/b&gt; <ins>remedies</ins> at http://x.biz');
  assert.equal(h.original, 'Buy &lt;b&gt;cheap&lt;/b&gt; <del>pills</del> at http://x.biz');
  assert.equal(highlightChanges('same text', 'same text').adversarial, 'same text');
  assert.equal(highlightChanges('a b', 'new a b').adversarial, '<ins>new</ins> a b');
  assert.equal(highlightChanges('Events?--Movies', 'Effect?--Movies').adversarial, '<ins>Effect</ins>?--Movies', 'token level, not white-space chunks');
  const long = Array.from({ length: 100 }, (_, k) => `w${k}`).join(' ');
  const cut = highlightChanges(long, long.replace('w50', 'x50'), 3).adversarial;
  assert.match(cut, /^ <span class="muted">…<\/span>\s+w47 w48 w49 <ins>x50<\/ins> w51 w52 w53 <span class="muted">…<\/span> $/);
});
