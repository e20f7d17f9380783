import type { Norm } from '../threat/threat-model.js';
import { loadNativeAddon } from '../engine/native/addon.js';
import { BoxHyperplaneProjector } from './box-hyperplane.js';

/**
 * One FAB step for a batch, on host arrays: for each row, the closest linearised decision
 * boundary among its m candidates (|f_k − f_c| / ‖∇(f_k − f_c)‖_q), the minimal-norm projections
 * of the current point and of the original onto it within the domain box, and their convex
 * combination (weight α ≤ alphaMax on the original, overshoot η). Rows are independent.
 */
export interface FabStepInput {
  norm: Norm;
  alphaMax: number;
  eta: number;
  /** Rows, candidates per row, features per row. */
  b: number;
  m: number;
  d: number;
  /** [b, m, d] gradients of the logit differences and [b, m] the differences. */
  grads: Float32Array;
  diff: Float32Array;
  /** [b, d] current points and original inputs. */
  cur: Float32Array;
  x0: Float32Array;
  /** [d] the domain box. */
  lo: Float64Array;
  hi: Float64Array;
}

const NORM_CODE: Record<string, number> = { linf: 0, l2: 1, l1: 2 };

/**
 * Writes the next iterate of every row into `next` ([b, d]). Runs in the native engine's addon
 * when it is built (rows split over its threads), else in JS; both compute the same thing in
 * float64 with the same selection order (test/fab-step.test.ts checks they agree).
 *
 * @example
 * ```ts
 * fabStep({ norm: 'linf', alphaMax: 0.1, eta: 1.05, b, m: 1, d, grads, diff, cur, x0, lo, hi }, next);
 * ```
 */
export function fabStep(s: FabStepInput, next: Float32Array): void {
  const native = loadNativeAddon();
  if (native.ok && native.addon.fabStep) {
    native.addon.fabStep(NORM_CODE[s.norm]!, s.alphaMax, s.eta, s.b, s.m, s.d, s.grads, s.diff, s.cur, s.x0, s.lo, s.hi, next);
    return;
  }
  fabStepJs(s, next);
}

function dualValue(norm: Norm, g: Float32Array, off: number, d: number): number {
  let n = 0;
  for (let j = off; j < off + d; j++) {
    const v = Math.abs(g[j]!);
    if (norm === 'l2') n += v * v;
    else if (norm === 'linf') n = Math.max(n, v);
    else n += v;
  }
  return norm === 'l2' ? Math.sqrt(n) : n;
}

const scratch = { d: -1, projector: new BoxHyperplaneProjector(), bufs: [] as Float64Array[] };

/** {@link fabStep} in JS, one row after the other. */
export function fabStepJs(s: FabStepInput, next: Float32Array): void {
  const { norm, b, m, d, grads: gh, diff: dh, cur: ch, x0: x0h, lo, hi } = s;
  const q: Norm = norm === 'linf' ? 'l1' : norm === 'l1' ? 'linf' : 'l2';
  if (scratch.d !== d) {
    scratch.d = d;
    scratch.projector = new BoxHyperplaneProjector(d);
    scratch.bufs = Array.from({ length: 6 }, () => new Float64Array(d));
  }
  const [dX, dO, lX, uX, lO, uO] = scratch.bufs as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
  for (let i = 0; i < b; i++) {
    let sBest = 0;
    let rBest = Infinity;
    for (let k = 0; k < m; k++) {
      const ratio = Math.abs(dh[i * m + k]!) / (dualValue(q, gh, (i * m + k) * d, d) + 1e-12);
      if (ratio < rBest) {
        rBest = ratio;
        sBest = k;
      }
    }
    const w = gh.subarray((i * m + sBest) * d, (i * m + sBest + 1) * d);
    const v = dh[i * m + sBest]!;
    let shift = 0;
    for (let j = 0; j < d; j++) {
      const xc = ch[i * d + j]!;
      const xo = x0h[i * d + j]!;
      shift += w[j]! * (xo - xc);
      lX[j] = lo[j]! - xc;
      uX[j] = hi[j]! - xc;
      lO[j] = lo[j]! - xo;
      uO[j] = hi[j]! - xo;
    }
    const nX = scratch.projector.project(norm, w, -v, lX, uX, dX);
    const nO = scratch.projector.project(norm, w, -v - shift, lO, uO, dO);
    const alpha = Math.min(nX / Math.max(nX + nO, 1e-12), s.alphaMax);
    for (let j = 0; j < d; j++) {
      next[i * d + j] = (1 - alpha) * (ch[i * d + j]! + s.eta * dX[j]!) + alpha * (x0h[i * d + j]! + s.eta * dO[j]!);
    }
  }
}
