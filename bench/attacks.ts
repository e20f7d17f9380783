/**
 * Attack throughput: examples/s of PGD-50 and APGD-100 (every example runs all its steps: the
 * budget is too small to succeed, so early stopping never shortens the run), batch 256, per
 * model and backend; median of repeated runs.
 *
 *   node build/bench/attacks.js [--backends wasm,cpu] [--models mnist-small,madry-cnn] [--batch 256] [--reps 3]
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/engine/backend.js';
import { summarize } from '../src/eval/stats.js';
import { buildZooModel } from '../src/model/zoo.js';
import { fromLayersModel } from '../src/model/classifier.js';
import { UNIT_BOX } from '../src/data/domain.js';
import { lpThreat } from '../src/threat/threat-model.js';
import { Pgd } from '../src/attacks/pgd.js';
import { Apgd } from '../src/attacks/apgd.js';
import type { Attack } from '../src/attacks/attack.js';

const { values } = parseArgs({
  options: {
    backends: { type: 'string', default: 'wasm' },
    models: { type: 'string', default: 'mnist-small,madry-cnn' },
    batch: { type: 'string', default: '256' },
    reps: { type: 'string', default: '3' },
  },
});
const batch = Number(values.batch);
const reps = Number(values.reps);
const median = (xs: number[]): number => summarize(xs).median!;

console.log(`attack throughput, batch ${batch}, median of ${reps} runs (examples/s = examples attacked per second, all steps run)`);
for (const backend of values.backends!.split(',')) {
  const info = await selectBackend(backend);
  for (const name of values.models!.split(',')) {
    const model = buildZooModel(name, { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    const clf = fromLayersModel(model, { domain: UNIT_BOX });
    const x = tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 1);
    const y = tf.tidy(() => tf.argMax(clf.logits(x), 1)) as tf.Tensor1D;
    // ε so small that no example flips: every step of every example is paid for.
    const threat = lpThreat('linf', 1e-6);
    const attacks: [string, Attack][] = [
      ['pgd-50', new Pgd({ steps: 50 })],
      ['apgd-100', new Apgd({ steps: 100 })],
    ];
    for (const [label, attack] of attacks) {
      const times: number[] = [];
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        const res = await attack.run(clf, x, y, { threat, seed: r });
        times.push((performance.now() - t0) / 1000);
        res.xAdv.dispose();
      }
      console.log(`${info.name.padEnd(7)} ${name.padEnd(12)} ${label.padEnd(9)} ${(batch / median(times)).toFixed(1).padStart(8)} ex/s  (${median(times).toFixed(2)} s per batch)`);
    }
    tf.dispose([x, y]);
    model.dispose();
  }
}
