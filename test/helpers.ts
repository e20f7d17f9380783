import * as tf from '@tensorflow/tfjs-core';
import { fromFunction, type Classifier } from '../src/model/classifier.js';

/**
 * A two-class linear classifier with logits [w·x + b, 0]: its decision boundary is w·x + b = 0,
 * so the minimal perturbation is known in closed form: |f(x)|/‖w‖₂ (L2), |f(x)|/‖w‖₁ (Linf),
 * |f(x)|/‖w‖∞ (L1), as long as the domain box does not bind.
 */
export function linearClassifier(w: number[], b: number, box = 100): { clf: Classifier; f: (x: number[]) => number } {
  const wt = tf.keep(tf.tensor2d(w, [w.length, 1]));
  const clf = fromFunction(
    (x) => tf.tidy(() => {
      const z = tf.add(tf.matMul(tf.reshape(x, [x.shape[0]!, w.length]), wt), b);
      return tf.concat([z, tf.zerosLike(z)], 1);
    }),
    { inputShape: [w.length], numClasses: 2, domain: { lower: -box, upper: box } },
  );
  return { clf, f: (x) => x.reduce((s, v, i) => s + v * w[i]!, b) };
}

export const norms = {
  l2: (w: number[]) => Math.sqrt(w.reduce((s, v) => s + v * v, 0)),
  l1: (w: number[]) => w.reduce((s, v) => s + Math.abs(v), 0),
  linf: (w: number[]) => Math.max(...w.map(Math.abs)),
};
