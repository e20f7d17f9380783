/**
 * Text robustness of trained spam filters, side by side: clean test accuracy, and each text
 * attack's success rate and the ensemble's worst case (a message counts as broken when any
 * attack fooled the model, every result re-verified) on the first N correctly detected test
 * spam, at the words:SHARE threat. Compares standard training with a2t / embedding-pgd.
 *
 *   node build/bench/text-robustness.js --models runs/std,runs/a2t,runs/epgd [--dataset spam] [--n 300] [--share 0.1] [--attacks pwws,...] [--max-queries 2000]
 */
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/engine/backend.js';
import { loadTextDataset } from '../src/data/index.js';
import { takeTexts } from '../src/data/text-dataset.js';
import { loadTextClassifier } from '../src/text/text-model-io.js';
import { textThreat } from '../src/threat/text-threat.js';
import { evaluateText, textPreset } from '../src/eval/text-eval.js';
import { createTextAttack } from '../src/text/attack/recipes.js';
import { scoreTexts } from '../src/eval/text-attack-run.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string' },
    dataset: { type: 'string', default: 'spam' },
    n: { type: 'string', default: '300' },
    share: { type: 'string', default: '0.1' },
    attacks: { type: 'string' },
    'max-queries': { type: 'string' },
    seed: { type: 'string', default: '0' },
    backend: { type: 'string', default: 'auto' },
  },
});
if (!values.models) throw new Error('--models DIR[,DIR…] is required');
const n = Number(values.n);
const seed = Number(values.seed);
const maxQueries = values['max-queries'] ? Number(values['max-queries']) : undefined;
await selectBackend(values.backend as 'auto');
const data = await loadTextDataset(values.dataset!, { seed });
const test = data.test;
const spam = test.classNames.indexOf('spam');
const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

console.log(`${values.dataset}: ${test.n} test messages; attacks on the first ${n} correctly detected test spam at words:${values.share}`);
for (const dir of values.models.split(',')) {
  const clf = await loadTextClassifier(dir);
  const clean = scoreTexts(clf, test.texts, test.y);
  let right = 0;
  for (let i = 0; i < test.n; i++) if (clean.pred[i] === test.y[i]) right++;
  const rows: number[] = [];
  for (let i = 0; i < test.n && rows.length < n; i++) if (test.y[i] === spam && clean.pred[i] === spam) rows.push(i);
  const ds = takeTexts(test, rows);
  const attacks = values.attacks
    ? values.attacks.split(',').map((a) => createTextAttack(a, maxQueries ? { maxQueries } : {}))
    : textPreset(maxQueries ? { maxQueries } : {});
  const t0 = performance.now();
  let last = 0;
  const onProgress = (stage: string, done: number, total: number) => {
    if (performance.now() - last > 30000) {
      last = performance.now();
      process.stderr.write(`  ${dir}: ${stage} ${done}/${total}\n`);
    }
  };
  const { result } = await evaluateText(clf, ds, { threat: textThreat(clf.tokenizer, { maxShare: Number(values.share) }), attacks, seed, onProgress });
  const text = result.text!;
  const per = text.attacks.map((a) => `${a.name} ${pct(a.success_rate)} of ${a.attacked}`).join(', ');
  console.log(`${dir}: clean test accuracy ${pct(right / test.n)} | ensemble success ${pct(text.success_rate)} on ${rows.length} spam | ${per} | ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
