/**
 * Text attack speed on a saved text model: a text attack (default PWWS) over the first N
 * correctly detected test spam messages — seconds per message, model queries per second — and,
 * in the same run (before and after the attack, averaged), the same model's batched forward
 * throughput on test messages (texts/s through `logitsOfTexts`, batches of 256). The ratio
 * shows whether the search keeps the engine busy (target ≥ 50%). Peak RSS at the end.
 *
 *   node build/bench/text-attacks.js --model runs/text-cnn-spam [--dataset spam] [--n 500] [--attack pwws] [--seed 0]
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/engine/backend.js';
import { loadTextDataset } from '../src/data/index.js';
import { loadTextClassifier } from '../src/text/text-model-io.js';
import { createTextAttack } from '../src/text/attack/recipes.js';
import { wordNet } from '../src/text/attack/wordnet.js';
import { textThreat } from '../src/threat/text-threat.js';
import { runTextAttack, scoreTexts } from '../src/eval/text-attack-run.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    dataset: { type: 'string', default: 'spam' },
    n: { type: 'string', default: '500' },
    attack: { type: 'string', default: 'pwws' },
    seed: { type: 'string', default: '0' },
    backend: { type: 'string', default: 'auto' },
  },
});
if (!values.model) throw new Error('--model DIR is required (a text model saved by advtrain train --dataset spam)');
const engine = await selectBackend(values.backend!);
const clf = await loadTextClassifier(values.model);
const { test } = await loadTextDataset(values.dataset!, { seed: Number(values.seed) });
const spam = test.classNames.indexOf('spam');
const pred = scoreTexts(clf, test.texts, test.y).pred;
const rows = Array.from({ length: test.n }, (_, i) => i).filter((i) => test.y[i] === spam && pred[i] === spam).slice(0, Number(values.n));

/** Texts per second of batched forward passes over the attacked messages, for about `seconds`. */
function forwardThroughput(seconds: number): number {
  const texts = rows.map((i) => test.texts[i]!);
  let done = 0;
  const t0 = performance.now();
  for (let k = 0; performance.now() - t0 < seconds * 1000; k += 256) {
    const batch = Array.from({ length: 256 }, (_, j) => texts[(k + j) % texts.length]!);
    tf.tidy(() => void clf.logitsOfTexts(batch).dataSync());
    done += batch.length;
  }
  return done / ((performance.now() - t0) / 1000);
}

let t = performance.now();
const wn = wordNet();
const wnTime = (performance.now() - t) / 1000;
const before = forwardThroughput(3);
const attack = createTextAttack(values.attack!);
t = performance.now();
const r = await runTextAttack(clf, test, attack, { threat: textThreat(clf.tokenizer), seed: Number(values.seed), rows, cleanPred: pred });
const secs = (performance.now() - t) / 1000;
const after = forwardThroughput(3);
const forward = (before + after) / 2;
const qps = r.queries.total / secs;
const fmt = (x: number | null, d = 2) => (x === null ? '—' : x.toFixed(d));
console.log(`engine ${engine.name}; model ${values.model}; ${values.dataset} test: ${rows.length} correctly detected spam attacked; WordNet index ${wn.size} lemmas built in ${wnTime.toFixed(1)} s`);
console.log(`${attack.name}: success ${(100 * r.success_rate).toFixed(1)}% (${r.succeeded}/${r.attacked}, unverified ${r.unverified}), median words changed ${fmt(r.words_changed.median === null ? null : 100 * r.words_changed.median, 1)}%, median queries ${fmt(r.queries.median, 0)}`);
console.log(`time ${secs.toFixed(1)} s = ${(secs / Math.max(1, rows.length)).toFixed(3)} s/message; ${r.queries.total} queries = ${qps.toFixed(0)} queries/s`);
console.log(`batched forward ${forward.toFixed(0)} texts/s (before ${before.toFixed(0)}, after ${after.toFixed(0)}); attack queries/s = ${((100 * qps) / forward).toFixed(1)}% of it`);
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
