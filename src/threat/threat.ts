import type * as tf from '@tensorflow/tfjs-core';
import type { ThreatModel } from './threat-model.js';
import type { SpatialThreat } from './spatial.js';

/**
 * The kinds of threat: a norm ball around x, a box of spatial transforms, or a budget of word
 * edits on raw text (`'text'`, see text-threat.ts). Tabular feasibility will join as a further kind.
 */
export type ThreatKind = 'norm' | 'spatial' | 'text';

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
 * What every threat offers, whatever its kind and whatever its inputs are (`X`: tensors for
 * images and tabular rows, raw strings for text): the contract the eval protocol, the checks,
 * the trainer and the CLI rely on. Kind-specific operations (projection, transforms, word
 * editing rules, …) live on the kind's own type; narrow on `kind` only where such an operation
 * is needed.
 *
 * @example
 * ```ts
 * const threat: ThreatOver<TextThreat, readonly string[]> = textThreat(defaultTokenizer(), { maxShare: 0.1 });
 * const c = threat.check(['cheap pills now'], ['inexpensive pills now']); // distance [0.333…], inside [0]
 * ```
 */
export interface ThreatOver<Self, X> {
  readonly kind: ThreatKind;
  /** The largest distance the threat allows (ε for a norm ball, 1 for a spatial box's normalised size, the share of words for text). */
  readonly budget: number;
  /** Canonical text form, e.g. 'linf:0.3', 'spatial:rot=30,trans=3' or 'words:0.1'. */
  toString(): string;
  /** Short name of the distance measure for result files, e.g. 'linf', 'spatial' or 'words'. */
  readonly measure: string;
  /**
   * Whether each `xAdv` lies inside the threat set around `x`, and its distance. `reported` is
   * the attack's own per-example distance, needed where the inputs alone cannot tell (a spatial
   * transform's size); a norm or text threat re-measures and ignores it.
   */
  check(x: X, xAdv: X, reported?: ArrayLike<number>): ThreatCheck;
  /** The same threat with its budget multiplied by `factor` (ε warm-up, ε curves). */
  scaled(factor: number): Self;
}

/**
 * A threat on tensor inputs (norm balls, spatial boxes): {@link ThreatOver} tensors, plus the
 * differentiable per-example distance the attacks and the margin code use.
 *
 * @example
 * ```ts
 * const threat: Threat<ThreatModel> = lpThreat('l2', 1.5);
 * console.log(threat.kind, threat.budget, threat.toString()); // norm 1.5 l2:1.5
 * ```
 */
export interface Threat<Self> extends ThreatOver<Self, tf.Tensor> {
  /** Per-example distance of `xAdv` from `x`, shape [b]. */
  distance(xAdv: tf.Tensor, x: tf.Tensor): tf.Tensor1D;
}

/**
 * Every kind of threat model on tensor inputs: norm-bounded, or a box of spatial transforms.
 * (A text threat, `TextThreat`, works on strings: the text attacks and their runner take it.)
 *
 * @example
 * ```ts
 * const threat: AnyThreat = parseAnyThreat('spatial:rot=30,trans=3');
 * if (threat.kind === 'norm') console.log(threat.norm, threat.eps);
 * ```
 */
export type AnyThreat = ThreatModel | SpatialThreat;
