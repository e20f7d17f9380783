/**
 * The set of valid inputs: a box, either one interval for every feature (images in [0, 1])
 * or one interval per feature (tabular data). Attacks clip to it; the ThreatModel reads it.
 *
 * @example
 * ```ts
 * const pixels: Domain = { lower: 0, upper: 1 };
 * const tabular: Domain = { lower: Float32Array.from([0, -1]), upper: Float32Array.from([1, 1]) };
 * ```
 */
export interface Domain {
  lower: number | Float32Array;
  upper: number | Float32Array;
}

/** The unit box [0, 1] every image data set uses. */
export const UNIT_BOX: Domain = { lower: 0, upper: 1 };

/** Lower and upper bound of feature `i` (per-feature arrays are indexed modulo their length). */
export function boundsOf(domain: Domain, i: number): [number, number] {
  const lo = typeof domain.lower === 'number' ? domain.lower : domain.lower[i % domain.lower.length]!;
  const hi = typeof domain.upper === 'number' ? domain.upper : domain.upper[i % domain.upper.length]!;
  return [lo, hi];
}
