/**
 * PGD at L∞ on MNIST under two rules for what counts as robust, from the same attack runs, so
 * advtrain's figures can be set beside published ones:
 *
 * - Wong et al.'s evaluation (fast_adversarial, MNIST): each example stops moving at its first
 *   misclassification, and of the restarts the one with the highest loss is kept; accuracy on
 *   that one perturbation.
 * - advtrain's rule (`advtrain attack --attack pgd`): an example is robust only if no restart
 *   fools it.
 *
 * Not a speed benchmark: a reference protocol, to tell an evaluation difference from a training one.
 *
 *   node build/bench/wong-pgd.js --model runs/m [--n 10000] [--eps 0.3] [--steps 50] [--restarts 10] [--step-size 0.01] [--batch 500] [--seed 0] [--threads N]
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/model/io.js';
import { loadDataset } from '../src/data/index.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    n: { type: 'string', default: '10000' },
    eps: { type: 'string', default: '0.3' },
    steps: { type: 'string', default: '50' },
    restarts: { type: 'string', default: '10' },
    'step-size': { type: 'string', default: '0.01' },
    batch: { type: 'string', default: '500' },
    seed: { type: 'string', default: '0' },
    threads: { type: 'string' },
  },
});
if (!values.model) throw new Error('--model DIR is required');
const [n, eps, steps, restarts, alpha, batch, seed] = ['n', 'eps', 'steps', 'restarts', 'step-size', 'batch', 'seed'].map((k) => Number(values[k as keyof typeof values]));

const engine = await selectBackend('auto', values.threads ? { threads: Number(values.threads) } : {});
const { classifier: clf } = await loadModel(values.model);
const test = (await loadDataset('mnist')).test;
const size = 28 * 28;
const total = Math.min(n!, test.n);
console.log(`engine ${engine.name}; PGD-${steps} × ${restarts} restarts, step ${alpha}, linf ${eps}, first ${total} mnist test images`);

/** Per-example cross-entropy. */
const ceRows = (logits: tf.Tensor2D, y: tf.Tensor1D) => tf.neg(tf.sum(tf.mul(tf.oneHot(y, 10), tf.logSoftmax(logits)), 1));

let leakBase = 0;
let clean = 0;
let wong = 0;
let strict = 0;
const start = performance.now();
for (let i0 = 0; i0 < total; i0 += batch!) {
  const b = Math.min(batch!, total - i0);
  const x = tf.tensor4d(test.x.subarray(i0 * size, (i0 + b) * size), [b, 28, 28, 1]);
  const y = tf.tensor1d(test.y.subarray(i0, i0 + b), 'int32');
  const lossGrad = tf.grad((xa: tf.Tensor) => tf.sum(ceRows(clf.logits(xa), y)));
  const correctOn = (d?: tf.Tensor) => tf.tidy(() => tf.equal(tf.argMax(clf.logits(d ? tf.add(x, d) : x), 1), y));
  const cleanOk = correctOn();
  let maxLoss = tf.fill([b], -Infinity);
  let maxDelta: tf.Tensor = tf.zerosLike(x);
  let fooledAny = tf.zeros([b], 'bool');
  for (let r = 0; r < restarts!; r++) {
    let delta = tf.tidy(() => {
      const u = tf.randomUniform(x.shape, -eps!, eps!, 'float32', seed! * 1000003 + i0 * 16 + r);
      return tf.minimum(tf.maximum(u, tf.neg(x)), tf.sub(1, x));
    });
    for (let s = 0; s < steps!; s++) {
      const ok = correctOn(delta);
      const anyOk = tf.tidy(() => tf.any(ok).dataSync()[0]);
      if (!anyOk) {
        ok.dispose();
        break;
      }
      const next = tf.tidy(() => {
        const g = lossGrad(tf.add(x, delta));
        const d = tf.clipByValue(tf.add(delta, tf.mul(alpha!, tf.sign(g))), -eps!, eps!);
        const boxed = tf.minimum(tf.maximum(d, tf.neg(x)), tf.sub(1, x));
        return tf.where(tf.tile(tf.reshape(ok, [b, 1, 1, 1]), [1, 28, 28, 1]), boxed, delta);
      });
      ok.dispose();
      delta.dispose();
      delta = next;
    }
    const [loss, fooled] = tf.tidy(() => {
      const logits = clf.logits(tf.add(x, delta));
      return [ceRows(logits, y), tf.notEqual(tf.argMax(logits, 1), y)];
    });
    const take = tf.greaterEqual(loss, maxLoss);
    const nextDelta = tf.tidy(() => tf.where(tf.tile(tf.reshape(take, [b, 1, 1, 1]), [1, 28, 28, 1]), delta, maxDelta));
    const nextLoss = tf.maximum(loss, maxLoss);
    const nextFooled = tf.logicalOr(fooledAny, fooled);
    tf.dispose([maxDelta, maxLoss, fooledAny, take, loss, fooled, delta]);
    [maxDelta, maxLoss, fooledAny] = [nextDelta, nextLoss, nextFooled];
  }
  const wongOk = correctOn(maxDelta);
  const count = (t: tf.Tensor) => tf.tidy(() => tf.sum(tf.cast(t, 'int32')).dataSync()[0]!);
  clean += count(cleanOk);
  wong += count(wongOk);
  strict += tf.tidy(() => tf.sum(tf.cast(tf.logicalAnd(cleanOk, tf.logicalNot(fooledAny)), 'int32')).dataSync()[0]!);
  tf.dispose([x, y, cleanOk, maxLoss, maxDelta, fooledAny, wongOk]);
  const done = i0 + b;
  if (i0 === 0) leakBase = tf.memory().numTensors;
  else if (tf.memory().numTensors !== leakBase) throw new Error(`tensors leaked: ${tf.memory().numTensors} vs ${leakBase}`);
  process.stderr.write(`\r${done}/${total}: clean ${((clean / done) * 100).toFixed(2)}%, Wong's rule ${((wong / done) * 100).toFixed(2)}%, advtrain's rule ${((strict / done) * 100).toFixed(2)}%`);
}
process.stderr.write('\n');
const pct = (k: number) => `${((k / total) * 100).toFixed(2)}%`;
console.log(`clean ${pct(clean)}; robust, Wong et al.'s rule (first misclassification freezes, max-loss restart): ${pct(wong)}; advtrain's rule (no restart may fool): ${pct(strict)}; ${((performance.now() - start) / 1000).toFixed(0)} s`);
