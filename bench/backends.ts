/**
 * Throughput of the zoo models per backend: examples/s of one training step (forward, backward,
 * Adam update) and of one input gradient (the inner step of every attack), batch 64, median of
 * repeated timed runs after warm-up.
 *
 *   npm run bench -- [--backends native,wasm,cpu]   (cpu: minutes per model) [--models mnist-small,mlp] [--batch 64] [--seconds 3] [--json]
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/engine/backend.js';
import { summarize } from '../src/eval/stats.js';
import { buildZooModel, ZOO_NAMES } from '../src/model/zoo.js';
import { fromLayersModel } from '../src/model/classifier.js';
import { UNIT_BOX } from '../src/data/domain.js';

const { values } = parseArgs({
  options: {
    backends: { type: 'string', default: 'native,wasm' },
    models: { type: 'string', default: ZOO_NAMES.join(',') },
    batch: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});
const batch = Number(values.batch);
const budget = Number(values.seconds);

const median = (xs: number[]): number => summarize(xs).median!;

/** Runs `fn` once to warm up, then times single runs until the budget is spent (3 at least). */
function timeIt(fn: () => void): number[] {
  fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 3 || (performance.now() - start < budget * 1000 && times.length < 50)) {
    const t = performance.now();
    fn();
    times.push((performance.now() - t) / 1000);
  }
  return times;
}

const rows: string[] = [];
for (const backend of values.backends!.split(',')) {
  const info = await selectBackend(backend);
  for (const name of values.models!.split(',')) {
    const model = buildZooModel(name, { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    const clf = fromLayersModel(model, { domain: UNIT_BOX });
    const x = tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 1);
    const y = tf.cast(tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', 2) as tf.Tensor1D, 10), 'float32') as tf.Tensor2D;
    const opt: tf.Optimizer = tf.train.adam(1e-3);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const trainStep = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, clf.trainingLogits(x)) as tf.Scalar, vars);
        opt.applyGradients(grads);
        value.dataSync();
      });
    const lossOf = (xi: tf.Tensor) => tf.losses.softmaxCrossEntropy(y, clf.logits(xi)) as tf.Scalar;
    const igradFn = tf.grad(lossOf);
    const igrad = () => tf.tidy(() => void igradFn(x).dataSync());
    for (const [mode, fn] of [['train', trainStep], ['igrad', igrad]] as const) {
      const times = timeIt(fn);
      const exps = batch / median(times);
      const rec = { model: name, mode, batch, backend: info.name, threads: null, ex_per_s: Math.round(exps), gflops: null, runs: times.length };
      if (values.json) console.log(JSON.stringify(rec));
      else rows.push(`${info.name.padEnd(6)} ${name.padEnd(16)} ${mode.padEnd(6)} ${String(Math.round(exps)).padStart(7)} ex/s  (median of ${times.length})`);
      if (!values.json) console.log(rows[rows.length - 1]);
    }
    tf.dispose([x, y]);
    opt.dispose();
    model.dispose();
  }
}
