import type * as tf from '@tensorflow/tfjs-core';
import type { ThreatModel } from './threat-model.js';
import type { SpatialThreat } from './spatial.js';

/**
 * The kinds of threat: a norm ball around x, or a box of spatial transforms. Text edits and
 * tabular feasibility will join as further kinds.
 */
export type ThreatKind = 'norm' | 'spatial';

/** Verification of a batch of adversarial inputs against a threat (see {@link Threat.check}). */
export interface ThreatCheck {
  /** Per-example distance in the threat's measure (what result files report). */
  distance: Float32Array;
  /** 1 where the adversarial input lies inside the threat set (within float32 slack). */
  inside: Uint8Array;
}

/** Relative and absolute slack of the budget check: float32 arithmetic in projections. */
export const BUDGET_SLACK = 1e-5;

/**
 * What every threat offers, whatever its kind: the contract the eval protocol, the checks, the
 * trainer and the CLI rely on. Kind-specific operations (projection, transforms, …) live on the
 * kind's own type; narrow on `kind` only where such an operation is needed.
 *
 * @example
 * ```ts
 * const threat: Threat<ThreatModel> = lpThreat('l2', 1.5);
 * console.log(threat.kind, threat.budget, threat.toString()); // norm 1.5 l2:1.5
 * ```
 */
export interface Threat<Self> {
  readonly kind: ThreatKind;
  /** The largest distance the threat allows (ε for a norm ball, 1 for a spatial box's normalised size). */
  readonly budget: number;
  /** Canonical text form, e.g. 'linf:0.3' or 'spatial:rot=30,trans=3'. */
  toString(): string;
  /** Short name of the distance measure for result files, e.g. 'linf' or 'spatial'. */
  readonly measure: string;
  /** Per-example distance of `xAdv` from `x`, shape [b]. */
  distance(xAdv: tf.Tensor, x: tf.Tensor): tf.Tensor1D;
  /**
   * Whether each `xAdv` lies inside the threat set around `x`, and its distance. `reported` is
   * the attack's own per-example distance, needed where the images alone cannot tell (a spatial
   * transform's size); a norm threat re-measures and ignores it.
   */
  check(x: tf.Tensor, xAdv: tf.Tensor, reported?: ArrayLike<number>): ThreatCheck;
  /** The same threat with its budget multiplied by `factor` (ε warm-up, ε curves). */
  scaled(factor: number): Self;
}

/**
 * Every kind of threat model: norm-bounded, or a box of spatial transforms.
 *
 * @example
 * ```ts
 * const threat: AnyThreat = parseAnyThreat('spatial:rot=30,trans=3');
 * if (threat.kind === 'norm') console.log(threat.norm, threat.eps);
 * ```
 */
export type AnyThreat = ThreatModel | SpatialThreat;
