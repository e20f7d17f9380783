import type { Rng } from '../data/rng.js';

/**
 * NSGA-III survival (Deb & Jain 2014) for small populations: non-dominated sorting, then the
 * last front admitted by niching around reference directions. Objectives are minimised.
 */

/**
 * Das–Dennis reference directions on the unit simplex: every point with coordinates k/p
 * (k integers) summing to 1, for `m` objectives and `p` divisions.
 *
 * @example
 * ```ts
 * referenceDirections(3, 2).length; // 6
 * ```
 */
export function referenceDirections(m: number, p: number): number[][] {
  const out: number[][] = [];
  const rec = (prefix: number[], left: number) => {
    if (prefix.length === m - 1) {
      out.push([...prefix, left].map((v) => v / p));
      return;
    }
    for (let k = 0; k <= left; k++) rec([...prefix, k], left - k);
  };
  rec([], p);
  return out;
}

/** Whether objective vector a dominates b (no worse everywhere, better somewhere). */
function dominates(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  let better = false;
  for (let i = 0; i < a.length; i++) {
    if (a[i]! > b[i]!) return false;
    if (a[i]! < b[i]!) better = true;
  }
  return better;
}

/**
 * Fast non-dominated sorting (Deb et al. 2002): the fronts, best first, as lists of positions.
 *
 * @example
 * ```ts
 * nonDominatedFronts([[0, 1], [1, 0], [1, 1]]); // [[0, 1], [2]]
 * ```
 */
export function nonDominatedFronts(f: readonly ArrayLike<number>[]): number[][] {
  const n = f.length;
  const dominatedBy = new Int32Array(n);
  const dominating: number[][] = Array.from({ length: n }, () => []);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (dominates(f[i]!, f[j]!)) {
        dominating[i]!.push(j);
        dominatedBy[j]!++;
      } else if (dominates(f[j]!, f[i]!)) {
        dominating[j]!.push(i);
        dominatedBy[i]!++;
      }
    }
  }
  const fronts: number[][] = [];
  let cur: number[] = [];
  for (let i = 0; i < n; i++) if (dominatedBy[i] === 0) cur.push(i);
  while (cur.length) {
    fronts.push(cur);
    const next: number[] = [];
    for (const i of cur) {
      for (const j of dominating[i]!) if (--dominatedBy[j]! === 0) next.push(j);
    }
    cur = next;
  }
  return fronts;
}

/**
 * Picks `k` survivors from candidates `f` (objective vectors, minimised): whole fronts while
 * they fit, then from the first front that does not fit, members chosen by NSGA-III niching —
 * objectives normalised by the ideal and worst points, each candidate associated with its
 * nearest reference direction, the least crowded direction served first (its nearest member
 * when it has none yet, else a random one). Returns the chosen positions and each one's rank
 * (front number), for tournament selection.
 *
 * @example
 * ```ts
 * const { chosen, rank } = nsga3Select(objectives, 20, referenceDirections(3, 5), rng);
 * ```
 */
export function nsga3Select(f: readonly ArrayLike<number>[], k: number, refs: readonly number[][], rng: Rng): { chosen: number[]; rank: number[] } {
  const fronts = nonDominatedFronts(f);
  const chosen: number[] = [];
  const rank: number[] = [];
  let last: number[] = [];
  for (let r = 0; r < fronts.length; r++) {
    const front = fronts[r]!;
    if (chosen.length + front.length <= k) {
      chosen.push(...front);
      for (let i = 0; i < front.length; i++) rank.push(r);
      if (chosen.length === k) return { chosen, rank };
      continue;
    }
    last = front;
    const need = k - chosen.length;
    const m = f[0]!.length;
    const pool = [...chosen, ...front];
    const lo = new Array<number>(m).fill(Infinity);
    const hi = new Array<number>(m).fill(-Infinity);
    for (const i of pool) {
      for (let o = 0; o < m; o++) {
        lo[o] = Math.min(lo[o]!, f[i]![o]!);
        hi[o] = Math.max(hi[o]!, f[i]![o]!);
      }
    }
    // Plain loops and the directions' norms computed once: niching runs for every example and generation.
    const norms = refs.map((w) => Math.hypot(...w) || 1);
    const v = new Array<number>(m);
    const niche = (i: number): [number, number] => {
      let vv = 0;
      for (let o = 0; o < m; o++) {
        v[o] = (f[i]![o]! - lo[o]!) / Math.max(hi[o]! - lo[o]!, 1e-12);
        vv += v[o]! * v[o]!;
      }
      let best = 0;
      let bestD = Infinity;
      for (let ri = 0; ri < refs.length; ri++) {
        const w = refs[ri]!;
        let dot = 0;
        for (let o = 0; o < m; o++) dot += v[o]! * w[o]!;
        dot /= norms[ri]!;
        const perp = Math.sqrt(Math.max(0, vv - dot * dot));
        if (perp < bestD) {
          best = ri;
          bestD = perp;
        }
      }
      return [best, bestD];
    };
    const count = new Int32Array(refs.length);
    for (const i of chosen) count[niche(i)[0]]!++;
    const members = new Map<number, { i: number; d: number }[]>();
    for (const i of last) {
      const [ri, dist] = niche(i);
      if (!members.has(ri)) members.set(ri, []);
      members.get(ri)!.push({ i, d: dist });
    }
    for (let added = 0; added < need; added++) {
      let minCount = Infinity;
      for (const ri of members.keys()) minCount = Math.min(minCount, count[ri]!);
      const open = [...members.keys()].filter((ri) => count[ri] === minCount).sort((a, b) => a - b);
      const ri = open[rng.int(open.length)]!;
      const ms = members.get(ri)!;
      let pick = 0;
      if (count[ri] === 0) {
        for (let j = 1; j < ms.length; j++) if (ms[j]!.d < ms[pick]!.d) pick = j;
      } else pick = rng.int(ms.length);
      chosen.push(ms[pick]!.i);
      rank.push(r);
      ms.splice(pick, 1);
      if (!ms.length) members.delete(ri);
      count[ri]!++;
    }
    return { chosen, rank };
  }
  return { chosen, rank };
}
