import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.js';
import { exampleSize, type Dataset } from './dataset.js';
import { Rng } from './rng.js';

/** One mini-batch: `size` examples copied (shuffled) or viewed (in order) from a {@link Dataset}. */
export interface Batch {
  /** `size * exampleSize` features. */
  x: Float32Array;
  /** `size` class indices. */
  y: Int32Array;
  size: number;
  /** Row of each example in the source data set. */
  indices: Int32Array;
}

/** Options of {@link batches}. */
export interface BatchOptions {
  /** Shuffle the order with this generator (one permutation per call). Default: data-set order. */
  shuffle?: Rng;
  /** Drop the last batch if it is smaller than `batchSize`. Default false. */
  dropRemainder?: boolean;
}

/**
 * The first `n` examples, in order (no copy: views into `ds`). Backs `--n` everywhere.
 * An `n` larger than the data set gives the whole data set.
 *
 * @example
 * ```ts
 * const small = subset(test, 100); // small.n === 100
 * ```
 */
export function subset(ds: Dataset, n: number): Dataset {
  if (!Number.isInteger(n) || n < 1) {
    throw new UserError(`the number of examples (--n) must be a positive integer (got ${String(n)}); pass e.g. --n 1000`);
  }
  if (n >= ds.n) return ds;
  const d = exampleSize(ds);
  return { ...ds, x: ds.x.subarray(0, n * d), y: ds.y.subarray(0, n), n };
}

/**
 * The rows of `ds` listed in `indices`, copied in that order, as a new data set.
 *
 * @example
 * ```ts
 * const firstAndLast = take(ds, Int32Array.from([0, ds.n - 1]), 'ends');
 * ```
 */
export function take(ds: Dataset, indices: ArrayLike<number>, name: string = ds.name): Dataset {
  const d = exampleSize(ds);
  const x = new Float32Array(indices.length * d);
  const y = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    if (!Number.isInteger(i) || i < 0 || i >= ds.n) {
      throw new UserError(`row index ${i} is out of range for ${ds.name} (${ds.n} examples)`);
    }
    x.set(ds.x.subarray(i * d, (i + 1) * d), k * d);
    y[k] = ds.y[i]!;
  }
  return { ...ds, name, x, y, n: indices.length };
}

/**
 * A random permutation of 0 … n-1.
 *
 * @example
 * ```ts
 * const order = shuffledIndices(5, new Rng(0)); // e.g. Int32Array [3, 0, 4, 1, 2]
 * ```
 */
export function shuffledIndices(n: number, rng: Rng): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return rng.shuffle(out);
}

/**
 * Splits the mini-batches of one epoch. Arguments are checked and the permutation drawn when
 * called (not at the first iteration), so the RNG advances at a predictable point.
 *
 * @example
 * ```ts
 * const rng = new Rng(0);
 * for (const b of batches(train, 128, { shuffle: rng })) {
 *   // b.x: Float32Array of b.size * 784 values, b.y: labels
 * }
 * ```
 */
export function batches(ds: Dataset, batchSize: number, opts: BatchOptions = {}): Generator<Batch> {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new UserError(`batch size must be a positive integer (got ${String(batchSize)}); pass e.g. --batch-size 128`);
  }
  const order = opts.shuffle ? shuffledIndices(ds.n, opts.shuffle) : null;
  return generate(ds, batchSize, order, opts.dropRemainder ?? false);
}

function* generate(ds: Dataset, batchSize: number, order: Int32Array | null, dropRemainder: boolean): Generator<Batch> {
  const d = exampleSize(ds);
  for (let start = 0; start < ds.n; start += batchSize) {
    const size = Math.min(batchSize, ds.n - start);
    if (size < batchSize && dropRemainder) return;
    if (order === null) {
      const indices = new Int32Array(size);
      for (let k = 0; k < size; k++) indices[k] = start + k;
      yield {
        x: ds.x.subarray(start * d, (start + size) * d),
        y: ds.y.subarray(start, start + size),
        size,
        indices,
      };
    } else {
      const indices = order.slice(start, start + size);
      const x = new Float32Array(size * d);
      const y = new Int32Array(size);
      for (let k = 0; k < size; k++) {
        const i = indices[k]!;
        x.set(ds.x.subarray(i * d, (i + 1) * d), k * d);
        y[k] = ds.y[i]!;
      }
      yield { x, y, size, indices };
    }
  }
}

/** Tensors of one batch; the caller owns (and disposes) both. */
export interface BatchTensors<X extends tf.Tensor = tf.Tensor> {
  /** `[size, ...shape]`: a Tensor4D for images `[h, w, c]`, a Tensor2D for feature vectors `[d]`. */
  xs: X;
  /** One-hot labels, float32 `[size, numClasses]`. */
  ys: tf.Tensor2D;
}

/**
 * Turns a batch into tensors: inputs of shape `[size, ...shape]` and one-hot float32 labels.
 *
 * @example
 * ```ts
 * const { xs, ys } = toTensors(batch, [28, 28, 1], 10); // xs: Tensor4D, ys: Tensor2D
 * // … use them, then
 * tf.dispose([xs, ys]);
 * ```
 */
export function toTensors(batch: Batch, shape: [number, number, number], numClasses: number): BatchTensors<tf.Tensor4D>;
export function toTensors(batch: Batch, shape: [number], numClasses: number): BatchTensors<tf.Tensor2D>;
export function toTensors(batch: Batch, shape: number[], numClasses: number): BatchTensors;
export function toTensors(batch: Batch, shape: number[], numClasses: number): BatchTensors {
  const d = shape.reduce((a, b) => a * b, 1);
  if (batch.x.length !== batch.size * d) {
    throw new UserError(`batch holds ${batch.x.length} values, not ${batch.size} examples of shape [${shape.join(', ')}]`);
  }
  const oneHot = new Float32Array(batch.size * numClasses);
  for (let k = 0; k < batch.size; k++) {
    const c = batch.y[k]!;
    if (!(c >= 0 && c < numClasses)) throw new UserError(`label ${c} is out of range for ${numClasses} classes`);
    oneHot[k * numClasses + c] = 1;
  }
  return {
    xs: tf.tensor(batch.x, [batch.size, ...shape], 'float32'),
    ys: tf.tensor2d(oneHot, [batch.size, numClasses], 'float32'),
  };
}

/**
 * A seeded held-out split of `ds`: a random `fraction` of the rows becomes `val` (at least one
 * row, and at least one row stays in `train`). Both parts keep the original row order.
 *
 * @example
 * ```ts
 * const { train: fit, val } = splitValidation(data.train, 0.1, 0); // for robust early stopping
 * ```
 */
export function splitValidation(ds: Dataset, fraction: number, seed = 0): { train: Dataset; val: Dataset } {
  if (!(fraction > 0 && fraction < 1)) {
    throw new UserError(`validation fraction must lie strictly between 0 and 1 (got ${String(fraction)}); e.g. 0.1`);
  }
  if (ds.n < 2) throw new UserError(`${ds.name} has ${ds.n} example(s): at least 2 are needed to hold some out`);
  const nVal = Math.min(ds.n - 1, Math.max(1, Math.round(ds.n * fraction)));
  const perm = shuffledIndices(ds.n, new Rng(seed));
  const valIdx = perm.slice(0, nVal).sort();
  const trainIdx = perm.slice(nVal).sort();
  return { train: take(ds, trainIdx, `${ds.name}:train`), val: take(ds, valIdx, `${ds.name}:val`) };
}
