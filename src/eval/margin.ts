import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../model/classifier.js';
import type { Dataset } from '../data/dataset.js';
import { exampleSize } from '../data/dataset.js';
import type { Histogram, MarginResult, MarginSide } from './schema.js';

/**
 * Histogram of values on fixed edges (values outside go to the end bins).
 *
 * @example
 * ```ts
 * histogram([0.1, 0.5, 0.9], linspace(0, 1, 11));
 * ```
 */
export function histogram(values: ArrayLike<number>, edges: number[]): Histogram {
  const counts = new Array<number>(edges.length - 1).fill(0);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    let b = edges.findIndex((e, k) => k > 0 && v < e) - 1;
    if (b < 0) b = v < edges[0]! ? 0 : counts.length - 1;
    counts[b]!++;
  }
  return { edges, counts };
}

/** n + 1 evenly spaced edges from lo to hi. */
export function linspace(lo: number, hi: number, n: number): number[] {
  return Array.from({ length: n + 1 }, (_, i) => lo + ((hi - lo) * i) / n);
}

function measure(clf: Classifier, x: Float32Array, ds: Dataset, rows: number[]): { conf: number[]; margin: number[] } {
  const size = exampleSize(ds);
  const conf: number[] = [];
  const margin: number[] = [];
  for (let s = 0; s < rows.length; s += 256) {
    const part = rows.slice(s, s + 256);
    const buf = new Float32Array(part.length * size);
    part.forEach((i, k) => buf.set(x.subarray(i * size, (i + 1) * size), k * size));
    const [c, m] = tf.tidy(() => {
      const xs = tf.tensor(buf, [part.length, ...ds.shape]);
      const z = clf.logits(xs);
      const y = tf.tensor1d(part.map((i) => ds.y[i]!), 'int32');
      const onehot = tf.oneHot(y, ds.numClasses);
      const zy = tf.sum(tf.mul(z, onehot), 1);
      const other = tf.max(tf.sub(z, tf.mul(onehot, 1e9)), 1);
      return [tf.sum(tf.mul(tf.softmax(z), onehot), 1), tf.sub(zy, other)];
    });
    conf.push(...c.dataSync());
    margin.push(...m.dataSync());
    tf.dispose([c, m]);
  }
  return { conf, margin };
}

/**
 * The robustness margin of the seed: the distribution of the true-class confidence and of the
 * logit margin z_y − max_{j≠y} z_j on clean and on adversarial inputs (examples the model gets
 * right on clean inputs), and the mean gap between them.
 *
 * @example
 * ```ts
 * const m = robustnessMargin(clf, test, result.adv, result.cleanCorrect);
 * console.log(m.gap.confidence);
 * ```
 */
export function robustnessMargin(clf: Classifier, ds: Dataset, adv: Float32Array, cleanCorrect: Uint8Array): MarginResult {
  const rows: number[] = [];
  for (let i = 0; i < ds.n; i++) if (cleanCorrect[i]) rows.push(i);
  return marginOf(measure(clf, ds.x, ds, rows), measure(clf, adv, ds, rows));
}

/**
 * The robustness margin from per-example true-class confidences and logit margins measured on
 * clean and on adversarial inputs (any input type: images here, texts in text-eval.ts).
 *
 * @example
 * ```ts
 * const m = marginOf({ conf: [0.99], margin: [4.2] }, { conf: [0.3], margin: [-0.8] });
 * ```
 */
export function marginOf(c: { conf: number[]; margin: number[] }, a: { conf: number[]; margin: number[] }): MarginResult {
  const all = [...c.margin, ...a.margin];
  const lo = Math.floor(Math.min(0, ...all));
  const hi = Math.ceil(Math.max(1, ...all));
  const mEdges = linspace(lo, hi, 30);
  const cEdges = linspace(0, 1, 20);
  const mean = (v: number[]) => (v.length ? v.reduce((s, x) => s + x, 0) / v.length : 0);
  const side = (s: { conf: number[]; margin: number[] }): MarginSide => ({
    confidence: { mean: mean(s.conf), histogram: histogram(s.conf, cEdges) },
    margin: { mean: mean(s.margin), histogram: histogram(s.margin, mEdges) },
  });
  const clean = side(c);
  const adversarial = side(a);
  return { clean, adversarial, gap: { confidence: clean.confidence.mean - adversarial.confidence.mean, margin: clean.margin.mean - adversarial.margin.mean } };
}
