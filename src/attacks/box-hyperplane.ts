import type { Norm } from '../threat/threat-model.js';

/**
 * Minimal-norm projection onto a box-constrained hyperplane: the δ of smallest ‖δ‖_p with
 * Σ_j w_j δ_j = c and lower_j ≤ δ_j ≤ upper_j (lower ≤ 0 ≤ upper). If the box cannot reach the
 * hyperplane, the box vertex that gets closest. FAB runs it twice per example and step, so it
 * keeps its scratch buffers between calls and finds the solution by selection (expected O(d))
 * instead of sorting the coordinates:
 * - L2 and Linf: δ_j = s_j·min(λ·v_j, room_j) (v_j = |w_j| for L2, 1 for Linf), where
 *   g(λ) = Σ_j |w_j|·min(λ·v_j, room_j) is piecewise linear and increasing; λ solves g(λ) = |c|,
 *   found by partitioning the breakpoints room_j / v_j around pivots (as in simplex projection).
 * - L1: a fractional knapsack — the coordinates of largest |w_j| first; the cut-off weight is
 *   found by the same partitioning.
 *
 * @example
 * ```ts
 * const proj = new BoxHyperplaneProjector(2);
 * const out = new Float64Array(2);
 * proj.project('l2', Float64Array.of(1, 1), 1, Float64Array.of(-1, -1), Float64Array.of(1, 1), out); // out = [0.5, 0.5]
 * ```
 */
export class BoxHyperplaneProjector {
  private a: Float64Array;
  private dir: Float64Array;
  private room: Float64Array;
  private key: Float64Array;
  private idx: Int32Array;

  constructor(d = 0) {
    this.a = new Float64Array(d);
    this.dir = new Float64Array(d);
    this.room = new Float64Array(d);
    this.key = new Float64Array(d);
    this.idx = new Int32Array(d);
  }

  private ensure(d: number): void {
    if (this.a.length >= d) return;
    this.a = new Float64Array(d);
    this.dir = new Float64Array(d);
    this.room = new Float64Array(d);
    this.key = new Float64Array(d);
    this.idx = new Int32Array(d);
  }

  /** Writes δ into `out` (length d) and returns ‖δ‖_p. */
  project(norm: Norm, w: ArrayLike<number>, c: number, lower: ArrayLike<number>, upper: ArrayLike<number>, out: Float64Array): number {
    const d = out.length;
    out.fill(0);
    if (c === 0 || !Number.isFinite(c)) return 0;
    this.ensure(d);
    const { a, dir, room, key, idx } = this;
    const sgn = c > 0 ? 1 : -1;
    const need = Math.abs(c);
    // Coordinates that can move: a_j = |w_j| > 0, direction dir_j, room_j > 0 in that direction.
    let m = 0;
    let total = 0;
    for (let j = 0; j < d; j++) {
      const wj = w[j]!;
      if (wj === 0) continue;
      const aj = Math.abs(wj);
      const dj = (wj > 0 ? 1 : -1) * sgn;
      const rj = dj > 0 ? Math.max(upper[j]!, 0) : Math.max(-lower[j]!, 0);
      if (rj <= 0) continue;
      a[j] = aj;
      dir[j] = dj;
      room[j] = rj;
      idx[m++] = j;
      total += aj * rj;
    }
    if (total <= need) {
      for (let k = 0; k < m; k++) {
        const j = idx[k]!;
        out[j] = dir[j]! * room[j]!;
      }
    } else if (norm === 'l1') {
      // Largest |w_j| first: every coordinate with a_j above the cut-off a* is spent whole, the
      // cut-off coordinates share the rest. key = −a_j turns it into "smallest key first".
      for (let k = 0; k < m; k++) key[idx[k]!] = -a[idx[k]!]!;
      const cut = this.select(m, need, true);
      let rest = need;
      for (let k = 0; k < m; k++) {
        const j = idx[k]!;
        if (key[j]! < cut) {
          out[j] = dir[j]! * room[j]!;
          rest -= a[j]! * room[j]!;
        }
      }
      // Ties at the cut-off in index order, as a stable sort would take them.
      const ties: number[] = [];
      for (let k = 0; k < m; k++) if (key[idx[k]!]! === cut) ties.push(idx[k]!);
      ties.sort((i, j) => i - j);
      for (const j of ties) {
        if (rest <= 0) break;
        const take = Math.min(room[j]!, rest / a[j]!);
        out[j] = dir[j]! * take;
        rest -= a[j]! * take;
      }
    } else {
      const l2 = norm === 'l2';
      for (let k = 0; k < m; k++) {
        const j = idx[k]!;
        key[j] = l2 ? room[j]! / a[j]! : room[j]!;
      }
      const lam = this.select(m, need, false);
      for (let k = 0; k < m; k++) {
        const j = idx[k]!;
        out[j] = dir[j]! * Math.min(lam * (l2 ? a[j]! : 1), room[j]!);
      }
    }
    let n = 0;
    for (let j = 0; j < d; j++) {
      const x = Math.abs(out[j]!);
      if (norm === 'l2') n += x * x;
      else if (norm === 'linf') n = Math.max(n, x);
      else n += x;
    }
    return norm === 'l2' ? Math.sqrt(n) : n;
  }

  /**
   * Partitions idx[0, m) around pivots until the answer is pinned down. With `knapsack` false it
   * returns λ with Σ_{key_j ≤ λ} a_j·room_j + λ·Σ_{key_j > λ} a_j·v_j = need (key_j = room_j / v_j);
   * with `knapsack` true the cut-off key κ such that the coordinates with key < κ fill less than
   * `need` and those with key ≤ κ at least `need` (room_j·a_j each). Reorders idx[0, m) only.
   */
  private select(m: number, need: number, knapsack: boolean): number {
    const { a, room, key, idx } = this;
    let lo = 0;
    let hi = m;
    let fixed = 0;
    let slope = 0;
    while (lo < hi) {
      const pivot = key[idx[(lo + hi) >>> 1]!]!;
      // Three-way partition of idx[lo, hi): key < pivot | key = pivot | key > pivot.
      let lt = lo;
      let gt = hi;
      let k = lo;
      let fLt = 0;
      let fEq = 0;
      let sEq = 0;
      let sGt = 0;
      while (k < gt) {
        const j = idx[k]!;
        const kj = key[j]!;
        const f = a[j]! * room[j]!;
        const s = knapsack ? 0 : f / kj;
        if (kj < pivot) {
          idx[k] = idx[lt]!;
          idx[lt++] = j;
          k++;
          fLt += f;
        } else if (kj > pivot) {
          idx[k] = idx[--gt]!;
          idx[gt] = j;
          sGt += s;
        } else {
          k++;
          fEq += f;
          sEq += s;
        }
      }
      if (knapsack) {
        if (fixed + fLt >= need) hi = lt;
        else if (fixed + fLt + fEq >= need) return pivot;
        else {
          fixed += fLt + fEq;
          lo = gt;
        }
        continue;
      }
      const g = fixed + fLt + fEq + pivot * (slope + sGt);
      if (g >= need) {
        slope += sEq + sGt;
        hi = lt;
      } else {
        fixed += fLt + fEq;
        lo = gt;
      }
    }
    // Rounding only: the coordinates that could move cannot quite reach the hyperplane.
    if (knapsack || !(slope > 0)) return Infinity;
    return (need - fixed) / slope;
  }
}

const shared = new BoxHyperplaneProjector();

/**
 * {@link BoxHyperplaneProjector.project} with a shared projector: the δ of smallest ‖δ‖_p with
 * Σ_j w_j δ_j = c inside the box [lower, upper] (lower ≤ 0 ≤ upper), written into `out`; returns
 * ‖δ‖_p.
 *
 * @example
 * ```ts
 * const out = new Float64Array(2);
 * projectBoxHyperplane('l2', Float64Array.of(1, 1), 1, Float64Array.of(-1, -1), Float64Array.of(1, 1), out); // out = [0.5, 0.5]
 * ```
 */
export function projectBoxHyperplane(norm: Norm, w: ArrayLike<number>, c: number, lower: ArrayLike<number>, upper: ArrayLike<number>, out: Float64Array): number {
  return shared.project(norm, w, c, lower, upper, out);
}
