/**
 * Integer rounding of the constrained attacks, A/B in one run: each attack on the same records
 * with the domain's integer features repaired towards the clean value (truncation) and to the
 * nearest grid value (`integerRounding: 'nearest'`, the tabular default). Robust accuracy,
 * validity of the records (re-validated against the data set's domain) and time per run.
 *
 *   node build/bench/tabular-rounding.js --model runs/phishing-mlp --dataset phishing [--n 500] [--attacks capgd,moeva,caa] [--threat l2:0.5]
 */
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/engine/backend.js';
import { loadDataset } from '../src/data/index.js';
import { subset } from '../src/data/batching.js';
import type { Domain } from '../src/data/domain.js';
import { loadModel } from '../src/model/io.js';
import { parseThreat } from '../src/threat/threat-model.js';
import { createAttack } from '../src/attacks/registry.js';
import { runAttack } from '../src/eval/attack-run.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    dataset: { type: 'string', default: 'nsl-kdd' },
    n: { type: 'string' },
    attacks: { type: 'string', default: 'capgd,moeva,caa' },
    threat: { type: 'string', default: 'l2:0.5' },
    backend: { type: 'string', default: 'auto' },
    batch: { type: 'string', default: '256' },
  },
});
if (!values.model) throw new Error('--model DIR is required');
const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const info = await selectBackend(values.backend!);
const data = await loadDataset(values.dataset!);
const test = values.n ? subset(data.test, Number(values.n)) : data.test;
const loaded = await loadModel(values.model);
const threat = parseThreat(values.threat!);
console.log(`${values.dataset}: ${test.n} test records; model ${values.model}; ${threat}; engine ${info.name}`);
for (const name of values.attacks!.split(',')) {
  for (const rounding of ['towards-clean', 'nearest'] as const) {
    const domain: Domain = { ...test.domain, integerRounding: rounding };
    const clf = { ...loaded.classifier, domain };
    const cpu0 = process.cpuUsage();
    const r = await runAttack(clf, test, createAttack(name, {}, threat), { threat, seed: 0, batchSize: Number(values.batch), validate: test.domain });
    const cpu = process.cpuUsage(cpu0);
    console.log(
      `  ${name.padEnd(6)} ${rounding.padEnd(13)} clean ${pct(r.clean_accuracy)}  robust ${pct(r.robust_accuracy)}  valid ${pct(r.validity_rate ?? 1)}  ` +
        `features changed median ${r.features_changed?.median ?? '-'}  ${r.time_s.toFixed(1)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU`,
    );
  }
}
