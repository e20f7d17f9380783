/**
 * The iterations after which APGD checks its step size, for `steps` iterations (Croce & Hein 2020):
 * w_j = ⌈p_j·steps⌉ with p₀ = 0, p₁ = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06).
 *
 * @example
 * ```ts
 * apgdCheckpoints(100); // [22, 41, 57, 70, 80, 87, 93, 99]
 * ```
 */
export function apgdCheckpoints(steps: number): number[] {
  const ps = [0, 0.22];
  for (;;) {
    const j = ps.length - 1;
    const next = ps[j]! + Math.max(ps[j]! - ps[j - 1]! - 0.03, 0.06);
    if (next > 1) break;
    ps.push(next);
  }
  const out: number[] = [];
  for (const pj of ps.slice(1)) {
    const w = Math.ceil(pj * steps - 1e-9);
    if (w >= 1 && w <= steps && !out.includes(w)) out.push(w);
  }
  return out;
}

/**
 * APGD's per-example step size (Croce & Hein 2020): it starts at 2ε and is halved at the
 * checkpoints of {@link apgdCheckpoints} for an example whose objective rose in fewer than ρ of
 * the steps since the last checkpoint, or whose best value did not improve since then (unless
 * its step was just halved). Host-side state indexed by position in the active batch; APGD and
 * CAPGD share it.
 *
 * @example
 * ```ts
 * const s = new StepSizeSchedule(100, 0.75, 0.3, f0);
 * const better = s.observe(f);      // 1 where the best objective improved
 * const halved = s.checkpoint(k + 1); // undefined, or 1 where the step was halved
 * ```
 */
export class StepSizeSchedule {
  /** The current step size of each example. */
  eta: Float32Array;
  private fBest: Float64Array;
  private fPrev: Float64Array;
  private fBestLast: Float64Array;
  private ups: Int32Array;
  private reducedLast: Uint8Array;
  private readonly list: number[];
  private readonly checkpoints: Set<number>;

  constructor(
    steps: number,
    private readonly rho: number,
    eps: number,
    f0: ArrayLike<number>,
  ) {
    const n = f0.length;
    this.eta = new Float32Array(n).fill(2 * eps);
    this.fBest = Float64Array.from(f0);
    this.fPrev = Float64Array.from(f0);
    this.fBestLast = Float64Array.from(f0);
    this.ups = new Int32Array(n);
    this.reducedLast = new Uint8Array(n);
    this.list = [0, ...apgdCheckpoints(steps)];
    this.checkpoints = new Set(this.list.slice(1));
  }

  /** Records each example's objective after a step; returns 1 where it beat the example's best. */
  observe(f: ArrayLike<number>): Float32Array {
    const better = new Float32Array(f.length);
    for (let j = 0; j < f.length; j++) {
      if (f[j]! > this.fPrev[j]!) this.ups[j]!++;
      this.fPrev[j] = f[j]!;
      if (f[j]! > this.fBest[j]!) {
        this.fBest[j] = f[j]!;
        better[j] = 1;
      }
    }
    return better;
  }

  /** After `step` steps: undefined if that is no checkpoint, else 1 where the step size was halved (those examples restart from their best point). */
  checkpoint(step: number): Float32Array | undefined {
    if (!this.checkpoints.has(step)) return undefined;
    const h = step - this.list[this.list.indexOf(step) - 1]!;
    const halve = new Float32Array(this.eta.length);
    for (let j = 0; j < halve.length; j++) {
      const oscillating = this.ups[j]! < this.rho * h;
      const stalled = !this.reducedLast[j] && this.fBest[j]! <= this.fBestLast[j]!;
      halve[j] = oscillating || stalled ? 1 : 0;
      this.reducedLast[j] = halve[j]!;
      this.fBestLast[j] = this.fBest[j]!;
      this.ups[j] = 0;
      if (halve[j]) {
        this.eta[j] = this.eta[j]! / 2;
        this.fPrev[j] = this.fBest[j]!;
      }
    }
    return halve;
  }

  /** Keeps only the examples at these positions (the others were broken), in this order. */
  keep(rows: ArrayLike<number>): void {
    this.eta = Float32Array.from(rows, (j) => this.eta[j]!);
    this.fBest = Float64Array.from(rows, (j) => this.fBest[j]!);
    this.fPrev = Float64Array.from(rows, (j) => this.fPrev[j]!);
    this.fBestLast = Float64Array.from(rows, (j) => this.fBestLast[j]!);
    this.ups = Int32Array.from(rows, (j) => this.ups[j]!);
    this.reducedLast = Uint8Array.from(rows, (j) => this.reducedLast[j]!);
  }
}
