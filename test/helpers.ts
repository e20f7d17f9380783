import * as tf from '@tensorflow/tfjs-core';
import assert from 'node:assert/strict';
import { fromFunction, type Classifier } from '../src/model/classifier.js';
import type { AttackResult } from '../src/attacks/attack.js';
import type { Norm } from '../src/threat/threat-model.js';
import { boundsOf, type Domain } from '../src/data/domain.js';

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

/** Weights of the linear test model and points on its class-0 side at different distances from the boundary. */
export const W = [0.5, -1.5, 2.0, 0.25, -0.75, 1.0, 0.1, -0.3, 0.6, 1.2];
export const X = [
  [1, 0, 1, 0, 0, 0, 0, 0, 0, 0],
  [0.2, -0.4, 0.3, 1, 0.5, 0.1, -0.2, 0.3, 0, 0.4],
  [2, -1, 0.5, 0, -1, 1, 0, 0, 1, 0.5],
];

/** The dual norm of each threat norm: the closed-form minimum is |f(x)| / ‖w‖_dual. */
export const dual: Record<'linf' | 'l2' | 'l1', (w: number[]) => number> = { linf: norms.l1, l2: norms.l2, l1: norms.linf };

/** Predicted classes of a batch. */
export function predict(clf: Classifier, x: tf.Tensor): number[] {
  const p = tf.tidy(() => tf.argMax(clf.logits(x), 1));
  const out = Array.from(p.dataSync());
  p.dispose();
  return out;
}

/**
 * The contract every attack result meets, measured on the host: inside the domain box (±1e-6)
 * and the ε-ball (+1e-6); with `reported`, the result's own distance agrees within that tolerance.
 */
export function assertFeasible(
  r: AttackResult,
  x: tf.Tensor,
  norm: Norm,
  eps: number,
  domain: Domain,
  opts: { label?: string; reported?: number } = {},
): void {
  const xa = r.xAdv.dataSync();
  const x0 = x.dataSync();
  const n = x.shape[0]!;
  const d = x.size / n;
  const label = opts.label ? `${opts.label}: ` : '';
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) {
      const v = xa[i * d + j]!;
      const [lo, hi] = boundsOf(domain, j);
      assert.ok(v >= lo - 1e-6 && v <= hi + 1e-6, `${label}row ${i} feature ${j} = ${v} outside [${lo}, ${hi}]`);
      const a = Math.abs(v - x0[i * d + j]!);
      if (norm === 'linf') s = Math.max(s, a);
      else if (norm === 'l2') s += a * a;
      else if (norm === 'l1') s += a;
      else s += a > 1e-7 ? 1 : 0;
    }
    const dist = norm === 'l2' ? Math.sqrt(s) : s;
    assert.ok(dist <= eps + 1e-6, `${label}row ${i}: ‖δ‖ = ${dist} > ε = ${eps}`);
    if (opts.reported !== undefined) assert.ok(Math.abs(dist - r.distance[i]!) < opts.reported, `${label}row ${i}: reported distance ${r.distance[i]} vs measured ${dist}`);
  }
}

/** Largest |a - b| over the largest |b|: the error relative to the reference's scale. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'sizes differ');
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= diff)) diff = Number.isNaN(d) ? Infinity : d;
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}

/** Seeded uniform numbers in [lo, hi). */
export function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}
