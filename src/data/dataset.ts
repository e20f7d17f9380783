import type { Domain } from './domain.js';

/**
 * A labelled set of examples held in flat typed arrays (row-major, one example after another),
 * so that loading 60,000 images costs one allocation and batching is a subarray.
 *
 * @example
 * ```ts
 * const { train, test } = await loadDataset('mnist');
 * console.log(train.n, train.shape); // 60000 [28, 28, 1]
 * ```
 */
export interface Dataset {
  /** e.g. 'mnist/train'. */
  name: string;
  /** Features, `n * prod(shape)` values. */
  x: Float32Array;
  /** Class indices in [0, numClasses). */
  y: Int32Array;
  /** Number of examples. */
  n: number;
  /** Shape of one example, e.g. [28, 28, 1] or [41]. */
  shape: number[];
  numClasses: number;
  /** Names of the classes, index-aligned with labels. */
  classNames: string[];
  /** The feasible set: bounds, and for tabular data the feature types, immutables and relations. */
  domain: Domain;
}

/**
 * The train/test pair a loader returns.
 *
 * @example
 * ```ts
 * const { train, test }: DataSplits = await loadDataset('mnist');
 * console.log(train.n, test.n); // 60000 10000
 * ```
 */
export interface DataSplits {
  train: Dataset;
  test: Dataset;
}

/** Number of features in one example. */
export function exampleSize(ds: Pick<Dataset, 'shape'>): number {
  return ds.shape.reduce((a, b) => a * b, 1);
}
