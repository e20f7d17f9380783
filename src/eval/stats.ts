/** Median, mean, maximum and sum of a list of numbers (null statistics for an empty list). */
export interface Summary {
  median: number | null;
  mean: number | null;
  max: number | null;
  total: number;
}

/**
 * Summarises a list of numbers; the median of an even count is the mean of the middle two.
 *
 * @example
 * ```ts
 * summarize([3, 1, 2]); // { median: 2, mean: 2, max: 3, total: 6 }
 * ```
 */
export function summarize(xs: ArrayLike<number>): Summary {
  if (xs.length === 0) return { median: null, mean: null, max: null, total: 0 };
  const s = Array.from(xs).sort((a, b) => a - b);
  const m = s.length >> 1;
  const total = s.reduce((a, b) => a + b, 0);
  return { median: s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2, mean: total / s.length, max: s[s.length - 1]!, total };
}
