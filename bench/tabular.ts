/**
 * Constrained attacks on a tabular data set (NSL-KDD by default), in one run:
 * 1. CAPGD's gradient steps per second against the model's raw input-gradient throughput
 *    (the same batch, interleaved, medians; target ≥ 50%). ε is tiny so no record breaks and
 *    every step is paid for; the repair, validity checks and step-size schedule are included.
 * 2. Optionally (--compare N): on the first N test records, clean accuracy and robust accuracy
 *    under unconstrained PGD and FGSM (box only, as published; records then re-validated) and
 *    under CAPGD, MOEVA and CAA, with validity rates.
 * 3. CAA over the first --n test records (default all): wall and CPU time, robust accuracy, validity,
 *    per-class detection (clean vs under CAA), features changed.
 * 4. Peak RSS of the process.
 *
 *   node build/bench/tabular.js --model runs/kdd-mlp [--dataset nsl-kdd] [--n 22544] [--compare 2000] [--threat l2:0.5] [--backend wasm]
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/engine/backend.js';
import { summarize } from '../src/eval/stats.js';
import { loadDataset } from '../src/data/index.js';
import { subset } from '../src/data/batching.js';
import { isBox } from '../src/data/domain.js';
import { loadModel } from '../src/model/io.js';
import { parseThreat, lpThreat } from '../src/threat/threat-model.js';
import { probe } from '../src/attacks/gradient.js';
import { capgdPerturb, CAPGD_DEFAULTS, Capgd } from '../src/attacks/capgd.js';
import { Moeva } from '../src/attacks/moeva.js';
import { Caa } from '../src/attacks/caa.js';
import { Pgd } from '../src/attacks/pgd.js';
import { Fgsm } from '../src/attacks/fgsm.js';
import { boxOnly } from '../src/attacks/constrained.js';
import { runAttack } from '../src/eval/attack-run.js';
import { perClass } from '../src/eval/per-class.js';
import type { Attack } from '../src/attacks/attack.js';
import type { Classifier } from '../src/model/classifier.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    dataset: { type: 'string', default: 'nsl-kdd' },
    n: { type: 'string' },
    compare: { type: 'string', default: '0' },
    threat: { type: 'string', default: 'l2:0.5' },
    backend: { type: 'string', default: 'wasm' },
    batch: { type: 'string', default: '256' },
    steps: { type: 'string', default: String(CAPGD_DEFAULTS.steps) },
    reps: { type: 'string', default: '3' },
    'skip-caa': { type: 'boolean', default: false },
  },
});
if (!values.model) throw new Error('--model DIR is required (train one with: node bin/advtrain.js train --model mlp --dataset nsl-kdd --out DIR)');
const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const median = (xs: number[]) => summarize(xs).median!;
const info = await selectBackend(values.backend!);
const data = await loadDataset(values.dataset!);
const loaded = await loadModel(values.model);
const clf: Classifier = isBox(data.test.domain) ? loaded.classifier : { ...loaded.classifier, domain: data.test.domain };
const threat = parseThreat(values.threat!);
const test = values.n ? subset(data.test, Number(values.n)) : data.test;
console.log(`${values.dataset}: ${test.n} test records, ${data.test.shape[0]} features, ${data.test.domain.relations?.length ?? 0} relations; model ${values.model}; ${threat}; engine ${info.name}`);

// 1. Throughput: raw input gradients vs CAPGD steps, same batch, interleaved.
{
  const batch = Math.min(Number(values.batch), test.n);
  const steps = Number(values.steps);
  const xs = tf.tensor(test.x.subarray(0, batch * test.shape[0]!), [batch, ...test.shape]);
  const y = tf.tensor1d(test.y.subarray(0, batch), 'int32');
  // The gradient attacks' own probe: on the native engine an MLP's is one call (the fastest way
  // this engine has to the same gradient), elsewhere the tape.
  const grad = (xi: tf.Tensor) => probe(clf, xi, y, 'ce').grad;
  const tiny = lpThreat(threat.norm, 1e-6);
  const raw: number[] = [];
  const cap: number[] = [];
  for (let r = 0; r < Number(values.reps); r++) {
    let t0 = performance.now();
    for (let s = 0; s < steps; s++) tf.tidy(() => void grad(xs).dataSync());
    raw.push((batch * steps) / ((performance.now() - t0) / 1000));
    t0 = performance.now();
    const res = capgdPerturb(clf, xs, y, tiny, { ...CAPGD_DEFAULTS, steps }, { seed: r });
    res.xAdv.dispose();
    cap.push((batch * (steps + 1)) / ((performance.now() - t0) / 1000));
  }
  tf.dispose([xs, y]);
  console.log(`gradient throughput, batch ${batch}, ${steps} steps, median of ${values.reps}: raw ${median(raw).toFixed(0)} example-gradients/s, CAPGD ${median(cap).toFixed(0)} example-steps/s = ${pct(median(cap) / median(raw))} of raw (target ≥ 50%)`);
}

const unconstrained = { ...clf, domain: boxOnly(clf.domain) };
const line = async (label: string, model: Classifier, attack: Attack, ds = test) => {
  const r = await runAttack(model, ds, attack, { threat, seed: 0, batchSize: Number(values.batch), validate: clf.domain });
  console.log(
    `  ${label.padEnd(22)} clean ${pct(r.clean_accuracy)}  robust ${pct(r.robust_accuracy)}  valid records ${pct(r.validity_rate ?? 1)}  ` +
      `(${r.invalid_successes ?? 0} invalid records fooled the model, not counted; robust if they were: ${pct(r.robust_accuracy - (r.invalid_successes ?? 0) / r.n)})  features changed median ${r.features_changed?.median ?? '-'}  ${r.time_s.toFixed(1)} s`,
  );
  return r;
};

// 2. The comparison on a subset.
const compareN = Math.min(Number(values.compare), test.n);
if (compareN > 0) {
  const part = subset(test, compareN);
  console.log(`comparison on the first ${compareN} records:`);
  await line('pgd (unconstrained)', unconstrained, new Pgd({ steps: 20 }), part);
  await line('fgsm (unconstrained)', unconstrained, new Fgsm(), part);
  await line('capgd', clf, new Capgd(), part);
  await line('moeva', clf, new Moeva(), part);
  await line('caa', clf, new Caa(), part);
}

// 3. CAA over the whole test split.
if (!values['skip-caa']) {
  console.log(`CAA over ${test.n} records:`);
  const cpu0 = process.cpuUsage();
  const r = await line('caa', clf, new Caa());
  const cpu = process.cpuUsage(cpu0);
  for (const c of perClass(test, r.cleanCorrect, r.robust)) {
    console.log(`  class ${(test.classNames[c.label] ?? String(c.label)).padEnd(10)} ${String(c.n).padStart(6)} records  detected clean ${pct(c.clean_accuracy)}  under CAA ${pct(c.robust_accuracy)}`);
  }
  // CPU time beside wall time: on a shared machine the wall time also counts other processes' turns.
  console.log(`CAA wall time ${r.time_s.toFixed(1)} s (${(r.time_s / 60).toFixed(2)} min; target ≤ 10 min on 2 cores), CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s (user ${(cpu.user / 1e6).toFixed(1)} s)`);
}
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB (target ≤ 2048 MB)`);
