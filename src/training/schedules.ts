import { UserError } from '../errors.js';

/**
 * Learning rate as a function of the (fractional) epoch, 0 ≤ t < epochs.
 *
 * @example
 * ```ts
 * const lr: LrSchedule = makeSchedule({ kind: 'cyclic', lr: 5e-3, peakAt: 0.4 }, 10);
 * console.log(lr(4)); // 0.005, the peak
 * ```
 */
export type LrSchedule = (epoch: number) => number;

/**
 * The learning-rate schedules a Trainer accepts.
 *
 * @example
 * ```ts
 * const schedule: ScheduleSpec = { kind: 'step', lr: 0.1, milestones: [50, 75], gamma: 0.1 };
 * await train(clf, data.train, data.test, { epochs: 100, batchSize: 128, optimizer: 'sgd', schedule, seed: 0 });
 * ```
 */
export type ScheduleSpec =
  | { kind: 'constant'; lr: number }
  /** Multiply by `gamma` at each epoch listed in `milestones` (e.g. 0.1 at [50, 75]). */
  | { kind: 'step'; lr: number; milestones: number[]; gamma: number }
  /** Triangular one-cycle (Wong et al. 2020): 0 → lr at `peakAt`·epochs, then back to 0 at the end. */
  | { kind: 'cyclic'; lr: number; peakAt: number };

/**
 * Builds a schedule for a run of `epochs` epochs.
 *
 * @example
 * ```ts
 * const lr = makeSchedule({ kind: 'cyclic', lr: 5e-3, peakAt: 0.4 }, 10);
 * lr(4); // 5e-3, the peak
 * ```
 */
export function makeSchedule(spec: ScheduleSpec, epochs: number): LrSchedule {
  if (!(spec.lr > 0)) throw new UserError(`--lr must be positive (got ${spec.lr})`);
  switch (spec.kind) {
    case 'constant':
      return () => spec.lr;
    case 'step':
      return (t) => spec.lr * spec.gamma ** spec.milestones.filter((m) => t >= m).length;
    case 'cyclic': {
      const peak = Math.min(Math.max(spec.peakAt, 1e-6), 1) * epochs;
      return (t) => (t <= peak ? (spec.lr * t) / peak : Math.max(0, (spec.lr * (epochs - t)) / Math.max(epochs - peak, 1e-9)));
    }
  }
}

/**
 * Parses the CLI form: `constant`, `cyclic[:PEAK_FRACTION]`, `step:M1,M2[:GAMMA]`.
 *
 * @example
 * ```ts
 * parseSchedule('step:5,8:0.1', 1e-3); // { kind: 'step', lr: 1e-3, milestones: [5, 8], gamma: 0.1 }
 * ```
 */
export function parseSchedule(text: string, lr: number): ScheduleSpec {
  const [kind, a, b] = text.split(':');
  if (kind === 'constant' && a === undefined) return { kind, lr };
  if (kind === 'cyclic') {
    const peakAt = a === undefined ? 0.4 : Number(a);
    if (!(peakAt > 0 && peakAt <= 1)) throw new UserError(`--lr-schedule cyclic:PEAK needs 0 < PEAK ≤ 1 (got '${a}')`);
    return { kind, lr, peakAt };
  }
  if (kind === 'step' && a) {
    const milestones = a.split(',').map(Number);
    const gamma = b === undefined ? 0.1 : Number(b);
    if (milestones.some((m) => !(m > 0)) || !(gamma > 0)) {
      throw new UserError(`--lr-schedule step:EPOCHS[:GAMMA] needs positive epochs and gamma (got '${text}')`);
    }
    return { kind, lr, milestones, gamma };
  }
  throw new UserError(`unknown --lr-schedule '${text}': use constant, cyclic[:PEAK] or step:E1,E2[:GAMMA]`);
}
