import * as tf from '@tensorflow/tfjs-core';
// tfjs-layers' bundle registers the gradients of every core op (tfjs-core's own ESM registration file cannot load in Node).
import '@tensorflow/tfjs-layers';
import type { Classifier } from '../model/classifier.js';
import type { Norm, ThreatModel } from '../threat/threat-model.js';
import type { AttackResult } from './attack.js';
import { isSuccess, logitOf } from './losses.js';
import { UserError } from '../errors.js';

/**
 * The result of a minimal-norm attack (DeepFool, FAB, CW-L2): an {@link AttackResult} whose
 * `success`, `distance` and `xAdv` honour the threat's budget, plus the smallest distance the
 * attack found to an adversarial point regardless of the budget.
 *
 * @example
 * ```ts
 * const r: MinimalNormResult = await new DeepFool().run(clf, x, y, { threat: parseThreat('l2:1') });
 * console.log(r.minDistance); // per example, Infinity where no adversarial point was found
 * r.xAdv.dispose();
 * ```
 */
export interface MinimalNormResult extends AttackResult {
  /** Per-example distance (threat's norm) of the closest adversarial point found; Infinity where none. */
  minDistance: Float32Array;
}

/** The dual norm q of p (1/p + 1/q = 1): the norm a gradient is measured in. */
export function dualNorm(norm: Norm): Norm {
  if (norm === 'linf') return 'l1';
  if (norm === 'l1') return 'linf';
  if (norm === 'l2') return 'l2';
  throw new UserError(`minimal-norm attacks work in linf, l2 or l1 (got ${norm}); pass e.g. --threat l2:2`);
}

/**
 * Logits and the input gradients of the logit differences f_k − f_c, for m classes k per example
 * (one forward and backward pass on m tiled copies of the batch: m queries per example).
 *
 * @param base  [b] int32: the class c each difference is taken against; or a function of the
 *   logits at x that picks it (read inside the same pass, so choosing c costs no extra query).
 * @param others [b, m] int32: the classes k.
 * @returns logits [b, K]; diff [b, m] = f_k − f_c; grads [b, m, d] (flattened inputs).
 *
 * @example
 * ```ts
 * const { logits, diff, grads } = classGradients(clf, x, y, candidates);
 * tf.dispose([logits, diff, grads]);
 * ```
 */
export function classGradients(
  clf: Classifier,
  x: tf.Tensor,
  base: tf.Tensor1D | ((logits: tf.Tensor2D) => tf.Tensor1D),
  others: tf.Tensor2D,
): { logits: tf.Tensor2D; diff: tf.Tensor2D; grads: tf.Tensor3D } {
  return tf.tidy(() => {
    const b = x.shape[0]!;
    const m = others.shape[1];
    const xs = m === 1 ? x : tf.tile(x, [m, ...x.shape.slice(1).map(() => 1)]);
    const cls = tf.reshape(tf.transpose(others), [-1]) as tf.Tensor1D;
    const rep = (c: tf.Tensor1D) => (m === 1 ? c : (tf.tile(c, [m]) as tf.Tensor1D));
    let z: tf.Tensor2D | undefined;
    let d: tf.Tensor1D | undefined;
    const { value, grad } = tf.valueAndGrad((xi: tf.Tensor) => {
      const zz = clf.logits(xi);
      z = tf.keep(zz);
      const c = typeof base === 'function' ? base(tf.slice(zz, [0, 0], [b, -1]) as tf.Tensor2D) : base;
      const dd = tf.sub(logitOf(zz, cls), logitOf(zz, rep(c))) as tf.Tensor1D;
      d = tf.keep(dd);
      return tf.sum(dd) as tf.Scalar;
    })(xs);
    value.dispose();
    const out = {
      logits: tf.slice(z!, [0, 0], [b, -1]) as tf.Tensor2D,
      diff: tf.transpose(tf.reshape(d!, [m, b])) as tf.Tensor2D,
      grads: tf.transpose(tf.reshape(grad, [m, b, -1]), [1, 0, 2]) as tf.Tensor3D,
    };
    z!.dispose();
    d!.dispose();
    return out;
  });
}

/**
 * The m classes with the largest logits other than `exclude`, per example ([b, m] int32).
 *
 * @example
 * ```ts
 * const cand = topOtherClasses(clf.logits(x), y, 9);
 * ```
 */
export function topOtherClasses(logits: tf.Tensor2D, exclude: tf.Tensor1D, m: number): tf.Tensor2D {
  return tf.tidy(() => {
    const masked = tf.sub(logits, tf.mul(tf.oneHot(exclude, logits.shape[1]), 1e9));
    return tf.cast(tf.topk(masked, m).indices, 'int32') as tf.Tensor2D;
  });
}

/**
 * Makes a minimal-norm attack's result honour the budget ε of `threat`: an example whose closest
 * adversarial point lies farther than ε (or that failed with an attempt outside the ball) gets that
 * point projected onto the ε-ball (and into the domain); it succeeds only if the projected point is
 * still adversarial (one more query). `minDistance` keeps the unbudgeted distance found.
 *
 * @example
 * ```ts
 * const r = enforceBudget(clf, x, y, undefined, threat, tracker.result(threat, steps));
 * ```
 */
export function enforceBudget(
  clf: Classifier,
  x: tf.Tensor,
  y: tf.Tensor1D,
  target: tf.Tensor1D | undefined,
  threat: ThreatModel,
  r: AttackResult,
): MinimalNormResult {
  const n = r.success.length;
  const minDistance = Float32Array.from({ length: n }, (_, i) => (r.success[i] ? r.distance[i]! : Infinity));
  const over: number[] = [];
  for (let i = 0; i < n; i++) if (r.distance[i]! > threat.eps) over.push(i);
  if (over.length === 0) return { ...r, minDistance };
  const idx = Int32Array.from(over);
  const [data, ok, dist] = tf.tidy(() => {
    const it = tf.tensor1d(idx, 'int32');
    const xo = tf.gather(x, it);
    const xp = threat.project(tf.gather(r.xAdv, it), xo, clf.domain);
    const s = isSuccess(clf.logits(xp), tf.gather(y, it) as tf.Tensor1D, target ? (tf.gather(target, it) as tf.Tensor1D) : undefined);
    return [xp, s, threat.distance(xp, xo)];
  });
  const size = x.size / n;
  const all = r.xAdv.dataSync().slice() as Float32Array;
  const pd = data.dataSync();
  const okd = ok.dataSync();
  const dd = dist.dataSync();
  const success = r.success.slice();
  const distance = r.distance.slice();
  const queries = r.queries.slice();
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k]!;
    all.set(pd.subarray(k * size, (k + 1) * size), i * size);
    success[i] = okd[k] ? 1 : 0;
    distance[i] = dd[k]!;
    queries[i]! += 1;
  }
  tf.dispose([data, ok, dist, r.xAdv]);
  return { xAdv: tf.tensor(all, r.xAdv.shape), success, distance, queries, iterations: r.iterations, minDistance };
}

/**
 * Shrinks each successful perturbation towards x by bisection along the segment x → xAdv, keeping
 * the closest point that is still adversarial (`steps` forward passes; the segment stays in the box).
 * Rows that are not adversarial are left as they are.
 *
 * @example
 * ```ts
 * const closer = shrinkToBoundary(clf, x, xAdv, y, undefined, 8); // returns a new tensor
 * ```
 */
export function shrinkToBoundary(clf: Classifier, x: tf.Tensor, xAdv: tf.Tensor, y: tf.Tensor1D, target: tf.Tensor1D | undefined, steps: number): tf.Tensor {
  const b = x.shape[0]!;
  const lo = new Float32Array(b);
  const hi = new Float32Array(b).fill(1);
  const delta = tf.sub(xAdv, x);
  for (let s = 0; s < steps; s++) {
    const mid = Float32Array.from(lo, (l, i) => (l + hi[i]!) / 2);
    const ok = tf.tidy(() => isSuccess(clf.logits(tf.add(x, tf.mul(delta, tf.reshape(tf.tensor1d(mid), [b, ...x.shape.slice(1).map(() => 1)])))), y, target));
    const f = ok.dataSync();
    ok.dispose();
    for (let i = 0; i < b; i++) if (f[i]) hi[i] = mid[i]!; else lo[i] = mid[i]!;
  }
  const out = tf.tidy(() => tf.add(x, tf.mul(delta, tf.reshape(tf.tensor1d(hi), [b, ...x.shape.slice(1).map(() => 1)]))));
  delta.dispose();
  return out;
}
