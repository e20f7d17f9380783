/**
 * Clean figures of a tabular model (not a test): accuracy, and the detection rate of each attack
 * category (share of its records predicted as an attack) beside the false-positive rate on
 * normal records — on KDDTest+ and KDDTest-21 for an NSL-KDD model, on the held-out split for a
 * phishing model. Also checks that every test record lies in the model's own feasible set.
 *
 *   node build/bench/tabular-clean.js --model /work/runs/s7/models/nsl-kdd-mlp [--backend native]
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/engine/backend.js';
import { evaluateClean } from '../src/model/accuracy.js';
import { loadModel } from '../src/model/io.js';
import { infeasibility } from '../src/data/domain.js';
import { loadNslKdd } from '../src/tabular/nsl-kdd.js';
import { loadPhishing } from '../src/tabular/phishing.js';
import type { TabularDataset } from '../src/tabular/tabular-dataset.js';
import { readBack } from '../src/engine/read-back.js';

const { values } = parseArgs({ options: { model: { type: 'string' }, backend: { type: 'string', default: 'auto' } } });
if (!values.model) throw new Error('pass --model DIR');
await selectBackend(values.backend as 'auto');
const loaded = await loadModel(values.model);
const dataset = loaded.metadata?.dataset ?? '';
const pct = (a: number, b: number) => (b ? `${((100 * a) / b).toFixed(2)}%` : 'n/a');

function predictions(ds: TabularDataset): Int32Array {
  const out = new Int32Array(ds.n);
  const d = ds.shape[0]!;
  for (let s = 0; s < ds.n; s += 1000) {
    const e = Math.min(ds.n, s + 1000);
    const p = readBack(() => tf.argMax(loaded.classifier.logits(tf.tensor2d(ds.x.subarray(s * d, e * d), [e - s, d])), 1));
    out.set(p, s);
  }
  return out;
}

function report(ds: TabularDataset): void {
  const m = evaluateClean(loaded.classifier, ds);
  const dom = loaded.classifier.domain;
  let infeasible = 0;
  for (let i = 0; i < ds.n; i++) if (infeasibility(dom, ds.x.subarray(i * ds.shape[0]!, (i + 1) * ds.shape[0]!)) !== undefined) infeasible++;
  console.log(`${ds.name}: ${ds.n} records, accuracy ${pct(m.accuracy * ds.n, ds.n)}, outside the model's feasible set: ${infeasible}`);
  const predicted = predictions(ds);
  const predictedAttack = (i: number) => predicted[i] !== 0; // class 0 is normal / legitimate
  const groups = ds.groups ?? ds.y;
  const names = ds.groupNames ?? ds.classNames;
  names.forEach((name, g) => {
    let n = 0;
    let flagged = 0;
    let right = 0;
    for (let i = 0; i < ds.n; i++) {
      if (groups[i] !== g) continue;
      n++;
      if (predictedAttack(i)) flagged++;
      if (m.correct[i]) right++;
    }
    const what = g === 0 ? `false-positive rate ${pct(flagged, n)}` : `detection rate ${pct(flagged, n)}`;
    console.log(`  ${name.padEnd(11)} ${String(n).padStart(6)} records: ${what} (correct ${pct(right, n)})`);
  });
}

if (dataset.startsWith('nsl-kdd')) {
  const classes = dataset === 'nsl-kdd-5' ? '5-class' : 'binary';
  report(loadNslKdd({ classes }).test);
  report(loadNslKdd({ classes, test: 'KDDTest-21.txt' }).test);
} else if (dataset === 'phishing') {
  report(loadPhishing({ seed: 0 }).test);
} else {
  throw new Error(`model ${values.model} was trained on "${dataset}", not nsl-kdd or phishing`);
}
