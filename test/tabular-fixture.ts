import * as tf from '@tensorflow/tfjs-core';
import { fromFunction, type Classifier } from '../src/model/classifier.js';
import type { Domain, Relation } from '../src/data/domain.js';
import type { Dataset } from '../src/data/dataset.js';
import { Rng } from '../src/data/rng.js';

/**
 * A synthetic tabular domain with every feature type and two relations:
 * 0 `rate` real, 1 `count` integer grid (step 0.1), 2–4 `proto` one-hot, 5 `service` immutable,
 * 6 `sent` ≤ 7 `total` (repairable: sent is lowered to total), 8 `flag` binary,
 * rate + count ≤ 1.5 (no repair), and `flag = 1 → proto = c` (an implication, as an OR).
 */
export const D = 9;

const relu = (t: tf.Tensor) => tf.relu(t);
const col = (x: tf.Tensor2D, i: number) => tf.reshape(tf.slice(x, [0, i], [-1, 1]), [-1]) as tf.Tensor1D;

const sentLeTotal: Relation = {
  name: 'sent <= total',
  holds: (x) => x[6]! <= x[7]! + 1e-6,
  violation: (x) => tf.tidy(() => relu(tf.sub(col(x, 6), col(x, 7))) as tf.Tensor1D),
  repair: (x) => {
    if (x[6]! > x[7]!) x[6] = x[7]!;
    return true;
  },
};
const budget: Relation = {
  name: 'rate + count <= 1.5',
  holds: (x) => x[0]! + x[1]! <= 1.5 + 1e-6,
  violation: (x) => tf.tidy(() => relu(tf.sub(tf.add(col(x, 0), col(x, 1)), 1.5)) as tf.Tensor1D),
};
const flagImpliesC: Relation = {
  name: 'flag = 1 -> proto = c',
  holds: (x) => x[8]! < 0.5 || x[4]! > 0.5,
  // OR of (flag ≤ 0) and (proto_c ≥ 1): the smaller violation.
  violation: (x) => tf.tidy(() => tf.minimum(relu(col(x, 8)), relu(tf.sub(1, col(x, 4)))) as tf.Tensor1D),
};

export const TABULAR: Domain = {
  lower: new Float32Array(D),
  upper: new Float32Array(D).fill(1),
  integers: [{ index: 1, step: 0.1 }, { index: 8, step: 1 }],
  oneHot: [{ offset: 2, width: 3, name: 'proto' }],
  immutable: [5],
  relations: [sentLeTotal, budget, flagImpliesC],
};

/** `n` valid records drawn from a fixed seed. */
export function tabularRecords(n: number, seed = 1): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n * D);
  for (let i = 0; i < n; i++) {
    const r = x.subarray(i * D, (i + 1) * D);
    r[0] = rng.next() * 0.7;
    r[1] = Math.round(rng.next() * 7) / 10;
    const proto = rng.int(3);
    r[2 + proto] = 1;
    r[5] = rng.next();
    r[7] = 0.2 + rng.next() * 0.8;
    r[6] = r[7]! * rng.next();
    r[8] = proto === 2 && rng.next() < 0.5 ? 1 : 0;
  }
  return x;
}

/** A fixed two-layer network with seeded weights (3 classes), on the tabular domain. */
export function tabularModel(seed = 7, domain: Domain = TABULAR): Classifier {
  const rng = new Rng(seed);
  const g = (n: number) => Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * 2);
  const w1 = tf.keep(tf.tensor2d(g(D * 16), [D, 16]));
  const b1 = tf.keep(tf.tensor1d(g(16)));
  const w2 = tf.keep(tf.tensor2d(g(16 * 3), [16, 3]));
  return fromFunction((x) => tf.tidy(() => tf.matMul(tf.tanh(tf.add(tf.matMul(tf.reshape(x, [-1, D]) as tf.Tensor2D, w1), b1)), w2)) as tf.Tensor2D, {
    inputShape: [D],
    numClasses: 3,
    domain,
  });
}

/** A data set of `n` records labelled by the model itself (so every record starts correct). */
export function tabularDataset(clf: Classifier, n: number, seed = 1): Dataset {
  const x = tabularRecords(n, seed);
  const pred = tf.tidy(() => tf.argMax(clf.logits(tf.tensor2d(x, [n, D])), 1));
  const y = Int32Array.from(pred.dataSync());
  pred.dispose();
  return { name: 'synthetic-tabular', x, y, n, shape: [D], numClasses: 3, classNames: ['a', 'b', 'c'], domain: clf.domain } as Dataset;
}
