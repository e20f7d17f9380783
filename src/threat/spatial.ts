import * as tf from '@tensorflow/tfjs-core';
// tfjs-layers' bundle registers the gradients of every core op (tfjs-core's own ESM registration file cannot load in Node).
import '@tensorflow/tfjs-layers';
import type { Domain } from '../data/domain.js';
import { Rng } from '../data/rng.js';
import { UserError } from '../errors.js';
import { clipToDomain } from './domain-clip.js';
import { BUDGET_SLACK, type Threat, type ThreatCheck } from './threat.js';

/** How pixels that come from outside the image are filled: with 0, or with the nearest border pixel. */
export type SpatialPadding = 'zeros' | 'edge';

/**
 * The columns of a transform-parameter tensor `[b, 4]`: rotation in degrees (positive turns the
 * image clockwise as displayed, rows pointing down), translation in pixels along x (columns,
 * positive moves the content right) and y (rows, positive moves it down), and the scale factor
 * (1 = unchanged). The identity is `[0, 0, 0, 1]`.
 */
export const SPATIAL_COLUMNS = ['rotation', 'tx', 'ty', 'scale'] as const;
export const SPATIAL_DIMS = 4;
const IDENTITY = [0, 0, 0, 1] as const;

/**
 * The settings of a {@link SpatialThreat}.
 *
 * @example
 * ```ts
 * const spec: SpatialThreatSpec = { rotation: 30, translation: 3, scale: [0.9, 1.1] };
 * const threat = spatialThreat(spec);
 * ```
 */
export interface SpatialThreatSpec {
  /** Largest rotation, degrees: θ ∈ [−rotation, rotation]. */
  rotation: number;
  /** Largest translation, pixels, per axis: tx, ty ∈ [−translation, translation]. */
  translation: number;
  /** Scale range [min, max] with min ≤ 1 ≤ max; default [1, 1] (no scaling). */
  scale?: [number, number];
  /** Default 'zeros' (black background, as in Engstrom et al.). */
  padding?: SpatialPadding;
}

/**
 * A spatial threat model (Engstrom et al. 2019, "Exploring the Landscape of Spatial Robustness"):
 * the attacker may rotate, translate and (optionally) scale an image about its centre, inside a
 * box of parameters. It is not norm-bounded, so it is its own type beside {@link ThreatModel}
 * (tell them apart with {@link isSpatialThreat}). Like a ThreatModel it owns everything an attack
 * must not repeat: applying transforms (differentiable bilinear sampling, padding, clipping to the
 * domain), projecting parameters into the box, random parameters, the search grid, the ascent
 * step in parameter space and the per-example distance.
 *
 * Parameters are `[b, 4]` tensors with the columns of {@link SPATIAL_COLUMNS}. The distance of a
 * transform is the L∞ norm of its parameters normalised by their ranges:
 * max(|θ|/rotation, |tx|/translation, |ty|/translation, (s−1)/(max−1) or (1−s)/(min−1)), so it lies
 * in [0, 1], is 0 for the identity and 1 on the border of the box (a column whose range is empty
 * counts 0). All methods leak no tensors.
 *
 * @example
 * ```ts
 * const threat = spatialThreat({ rotation: 30, translation: 3 });
 * const p = threat.random(x.shape[0], 1);              // [b, 4] inside the box
 * const xt = threat.transform(x, p, { lower: 0, upper: 1 }); // rotated and shifted images
 * const d = threat.transformSize(p);                   // [b] in [0, 1]
 * ```
 */
export interface SpatialThreat extends Threat<SpatialThreat> {
  readonly kind: 'spatial';
  readonly rotation: number;
  readonly translation: number;
  readonly scale: readonly [number, number];
  readonly padding: SpatialPadding;
  /** Lower and upper bound of each parameter column. */
  readonly lower: readonly number[];
  readonly upper: readonly number[];
  /**
   * Transforms each image `[b, h, w, c]` (or `[b, h, w]`) by its row of `params` `[b, 4]`, with
   * bilinear sampling, padding, and clipping into the domain. Differentiable w.r.t. both the
   * parameters and the images.
   */
  transform(x: tf.Tensor, params: tf.Tensor2D, domain: Domain): tf.Tensor;
  /** Parameters clipped into the box. */
  project(params: tf.Tensor2D): tf.Tensor2D;
  /** `n` uniform random parameter rows inside the box (host-side generator: same seed, same rows on every backend). */
  random(n: number, seed: number): tf.Tensor2D;
  /** The same as {@link random}, as a flat host array `[n * 4]`. */
  randomValues(n: number, seed: number): Float32Array;
  /** `n` identity rows. */
  identity(n: number): tf.Tensor2D;
  /**
   * A grid over the box as a flat host array `[m * 4]`, sorted by distance (the identity first
   * when it is on the grid). Default counts: 31 rotations, 5 translations per axis, 5 scales if
   * the scale range is not empty (Engstrom et al.: 5 × 5 × 31 = 775). A column whose range is
   * empty gets one value.
   */
  grid(counts?: Partial<SpatialGridCounts>): Float32Array;
  /** Per-example normalised L∞ size of the transforms, [b]. */
  transformSize(params: tf.Tensor2D): tf.Tensor1D;
  /** The same as {@link transformSize} for host rows `[n * 4]`. */
  transformSizeValues(params: ArrayLike<number>): Float32Array;
  /**
   * The images alone do not tell which transform made `xAdv`, so this is the per-example L∞
   * change of the pixels, for display only; the budget is on the transform (see {@link check}).
   */
  distance(xAdv: tf.Tensor, x: tf.Tensor): tf.Tensor1D;
  /**
   * Checks the attack's reported transform sizes (`reported`, normalised, ≤ 1 inside the box);
   * without them no example counts as inside.
   */
  check(x: tf.Tensor, xAdv: tf.Tensor, reported?: ArrayLike<number>): ThreatCheck;
  /** The box with rotation and translation × factor and the scale range's distance from 1 × factor. */
  scaled(factor: number): SpatialThreat;
  /** The signed-gradient step of normalised L∞ length `stepSize` (each column moves by stepSize × its half-range). */
  ascentStep(grad: tf.Tensor2D, stepSize: number): tf.Tensor2D;
}

/** Points per parameter of {@link SpatialThreat.grid}. */
export interface SpatialGridCounts {
  rotations: number;
  translations: number;
  scales: number;
}

/** True when `t` is a spatial threat (a ThreatModel has `norm` instead). */
export function isSpatialThreat(t: unknown): t is SpatialThreat {
  return typeof t === 'object' && t !== null && (t as { kind?: unknown }).kind === 'spatial';
}

function linspace(lo: number, hi: number, n: number): number[] {
  if (n === 1 || lo === hi) return [(lo + hi) / 2];
  return Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1));
}

/**
 * A custom-gradient op that reads, for each sampling position, the 2×2 cell of pixels whose
 * top-left corner is (x0, y0) (integer-valued floats, [b, n]) from `cells` ([b·(h+1)·(w+1), 4c],
 * see {@link bilinearTransform}); a cell entirely outside the image reads 0. The positions are
 * floors, piecewise constant in the transform parameters, so their gradient is 0; the int32
 * indices stay inside the op, off the gradient tape. The gradient w.r.t. `cells` scatters dy back
 * (scatterND sums duplicates; linear time on every backend).
 */
function cellReader(H: number, W: number): (cells: tf.Tensor2D, x0: tf.Tensor2D, y0: tf.Tensor2D) => tf.Tensor3D {
  const op = tf.customGrad(((cells: tf.Tensor2D, x0: tf.Tensor2D, y0: tf.Tensor2D, save: tf.GradSaveFunc) => {
    const [b, n] = x0.shape;
    const width = cells.shape[1];
    const [idx, valid] = tf.tidy(() => {
      const inside = tf.logicalAnd(
        tf.logicalAnd(tf.greaterEqual(x0, -1), tf.lessEqual(x0, W - 1)),
        tf.logicalAnd(tf.greaterEqual(y0, -1), tf.lessEqual(y0, H - 1)),
      );
      const xi = tf.cast(tf.clipByValue(tf.add(x0, 1), 0, W), 'int32');
      const yi = tf.cast(tf.clipByValue(tf.add(y0, 1), 0, H), 'int32');
      const offset = tf.reshape(tf.mul(tf.range(0, b, 1, 'int32'), tf.scalar((H + 1) * (W + 1), 'int32')), [b, 1]);
      const flatIdx = tf.reshape(tf.add(tf.add(tf.mul(yi, tf.scalar(W + 1, 'int32')), xi), offset), [b * n]);
      return [flatIdx, tf.reshape(tf.cast(inside, 'float32'), [b * n, 1])];
    });
    const value = tf.tidy(() => tf.reshape(tf.mul(tf.gather(cells, idx), valid), [b, n, width]));
    save([idx, valid]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [i, v] = saved as [tf.Tensor1D, tf.Tensor2D];
        const upd = tf.mul(tf.reshape(dy, [b * n, width]), v);
        const dCells = tf.scatterND(tf.reshape(i, [b * n, 1]), upd, cells.shape);
        return [dCells, tf.zerosLike(x0), tf.zerosLike(y0)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op as unknown as (cells: tf.Tensor2D, x0: tf.Tensor2D, y0: tf.Tensor2D) => tf.Tensor3D;
}

/** One-hot 2×2 filters [2, 2, c, 4c] that copy corner k of input channel ch to output channel k·c + ch. */
function cornerFilter(C: number): tf.Tensor4D {
  const f = new Float32Array(2 * 2 * C * 4 * C);
  for (let k = 0; k < 4; k++) {
    const dy = k >> 1;
    const dx = k & 1;
    for (let ch = 0; ch < C; ch++) f[((dy * 2 + dx) * C + ch) * 4 * C + k * C + ch] = 1;
  }
  return tf.tensor4d(f, [2, 2, C, 4 * C]);
}

/**
 * Differentiable bilinear resampling of a batch `[b, h, w, c]` under per-example rotation,
 * translation and scaling about the image centre ((w−1)/2, (h−1)/2). Output pixel q reads the
 * input at p = R(−θ)(q − centre − t)/s + centre (the inverse map), interpolating its four
 * neighbours; with 'zeros' padding pixels outside the image read 0, with 'edge' the nearest
 * border pixel. The identity and integer translations reproduce pixels exactly.
 *
 * Built from tf ops: the image is padded by one zero pixel and its 2×2 neighbourhoods are stacked
 * into a cell table [b, h+1, w+1, 4c] (a 2×2 convolution with one-hot filters), each output pixel
 * gathers one cell (one gather of rows of 4c values; measured several times faster on wasm than a
 * dense separable matMul or per-corner gathers, and slices/concats on the last axis), and the
 * four corners are mixed with the weights (1−fx)(1−fy), fx(1−fy), (1−fx)fy, fx·fy, f = p − ⌊p⌋.
 * Differentiable w.r.t. the parameters (through the weights: the one-sided slope of the bilinear
 * interpolation, exact almost everywhere and never masked to 0 at integer positions) and w.r.t.
 * the images (the adjoint resampling, a scatter).
 *
 * @example
 * ```ts
 * const shifted = bilinearTransform(x, tf.tensor2d([[0, 1, 0, 1]]), 'zeros'); // one pixel right
 * ```
 */
export function bilinearTransform(x: tf.Tensor, params: tf.Tensor2D, padding: SpatialPadding = 'zeros'): tf.Tensor {
  if (x.rank !== 3 && x.rank !== 4) throw new UserError(`spatial transforms need image batches [b, h, w, c] (got shape [${x.shape}])`);
  if (params.rank !== 2 || params.shape[1] !== SPATIAL_DIMS || params.shape[0] !== x.shape[0]) {
    throw new UserError(`spatial parameters must be [${x.shape[0]}, ${SPATIAL_DIMS}] (got [${params.shape}])`);
  }
  return tf.tidy(() => {
    const [b, H, W] = x.shape as [number, number, number];
    const C = x.rank === 4 ? x.shape[3]! : 1;
    const hw = H * W;
    const cx = (W - 1) / 2;
    const cy = (H - 1) / 2;
    const cols = new Float32Array(hw);
    const rowsArr = new Float32Array(hw);
    for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
      cols[i * W + j] = j - cx;
      rowsArr[i * W + j] = i - cy;
    }
    const [rot, tx, ty, s] = tf.split(params, 4, 1) as tf.Tensor2D[];
    const rad = tf.mul(rot!, Math.PI / 180);
    const cos = tf.cos(rad);
    const sin = tf.sin(rad);
    const qx = tf.sub(tf.tensor2d(cols, [1, hw]), tx!);
    const qy = tf.sub(tf.tensor2d(rowsArr, [1, hw]), ty!);
    let px = tf.add(tf.div(tf.add(tf.mul(cos, qx), tf.mul(sin, qy)), s!), cx) as tf.Tensor2D;
    let py = tf.add(tf.div(tf.sub(tf.mul(cos, qy), tf.mul(sin, qx)), s!), cy) as tf.Tensor2D;
    if (padding === 'edge') {
      px = tf.clipByValue(px, 0, W - 1);
      py = tf.clipByValue(py, 0, H - 1);
    }
    const x0 = tf.floor(px);
    const y0 = tf.floor(py);
    const fx = tf.expandDims(tf.sub(px, x0), 2);
    const fy = tf.expandDims(tf.sub(py, y0), 2);
    // cells[b, Y, X, k·C + c] = corner k (0: top-left, 1: top-right, 2: bottom-left, 3: bottom-right)
    // of the 2×2 block whose top-left pixel is (Y − 1, X − 1), zero outside the image: a 2×2
    // convolution with one-hot filters over the zero-padded image (exact: products with 0 and 1).
    const xp = tf.pad(tf.reshape(x, [b, H, W, C]), [[0, 0], [1, 1], [1, 1], [0, 0]]) as tf.Tensor4D;
    const cells = tf.reshape(tf.conv2d(xp, cornerFilter(C), 1, 'valid'), [b * (H + 1) * (W + 1), 4 * C]) as tf.Tensor2D;
    const v = tf.reshape(cellReader(H, W)(cells, x0 as tf.Tensor2D, y0 as tf.Tensor2D), [b, hw, 4, C]);
    // Corner weights [b, hw, 4, 1]: (1−fx or fx) · (1−fy or fy), by broadcasting against corner masks.
    const mx = tf.tensor3d([0, 1, 0, 1], [1, 1, 4]);
    const my = tf.tensor3d([0, 0, 1, 1], [1, 1, 4]);
    const wx = tf.add(tf.sub(1, fx), tf.mul(tf.sub(tf.mul(fx, 2), 1), mx));
    const wy = tf.add(tf.sub(1, fy), tf.mul(tf.sub(tf.mul(fy, 2), 1), my));
    const out = tf.sum(tf.mul(v, tf.expandDims(tf.mul(wx, wy), 3)), 2);
    return tf.reshape(out, x.shape);
  });
}

class SpatialBox implements SpatialThreat {
  readonly kind = 'spatial' as const;
  readonly budget = 1;
  readonly measure = 'spatial';
  readonly scale: readonly [number, number];
  readonly padding: SpatialPadding;
  readonly lower: readonly number[];
  readonly upper: readonly number[];
  /** Normalisers of the distance: below and above the identity, per column (0: empty side). */
  private readonly below: number[];
  private readonly above: number[];

  constructor(readonly rotation: number, readonly translation: number, scale: [number, number], padding: SpatialPadding) {
    this.scale = scale;
    this.padding = padding;
    this.lower = [-rotation, -translation, -translation, scale[0]];
    this.upper = [rotation, translation, translation, scale[1]];
    this.below = [rotation, translation, translation, 1 - scale[0]];
    this.above = [rotation, translation, translation, scale[1] - 1];
  }

  toString(): string {
    let s = `spatial:rot=${this.rotation},trans=${this.translation}`;
    if (this.scale[0] !== 1 || this.scale[1] !== 1) s += `,scale=${this.scale[0]}-${this.scale[1]}`;
    if (this.padding !== 'zeros') s += `,pad=${this.padding}`;
    return s;
  }

  transform(x: tf.Tensor, params: tf.Tensor2D, domain: Domain): tf.Tensor {
    return tf.tidy(() => clipToDomain(bilinearTransform(x, params, this.padding), domain));
  }

  project(params: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.minimum(tf.maximum(params, tf.tensor2d([this.lower as number[]])), tf.tensor2d([this.upper as number[]]))) as tf.Tensor2D;
  }

  randomValues(n: number, seed: number): Float32Array {
    const rng = new Rng(seed);
    const out = new Float32Array(n * SPATIAL_DIMS);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < SPATIAL_DIMS; k++) {
        const lo = this.lower[k]!;
        const hi = this.upper[k]!;
        out[i * SPATIAL_DIMS + k] = lo === hi ? lo : lo + (hi - lo) * rng.next();
      }
    }
    return out;
  }

  random(n: number, seed: number): tf.Tensor2D {
    return tf.tensor2d(this.randomValues(n, seed), [n, SPATIAL_DIMS]);
  }

  identity(n: number): tf.Tensor2D {
    return tf.tidy(() => tf.tile(tf.tensor2d([Array.from(IDENTITY)]), [n, 1])) as tf.Tensor2D;
  }

  grid(counts: Partial<SpatialGridCounts> = {}): Float32Array {
    const hasScale = this.scale[0] !== this.scale[1];
    const c: SpatialGridCounts = { rotations: 31, translations: 5, scales: hasScale ? 5 : 1, ...counts };
    for (const [k, v] of Object.entries(c)) {
      if (!Number.isInteger(v) || v < 1) throw new UserError(`grid ${k} must be a positive integer (got ${v})`);
    }
    const rs = linspace(-this.rotation, this.rotation, c.rotations);
    const ts = linspace(-this.translation, this.translation, c.translations);
    const ss = hasScale ? linspace(this.scale[0], this.scale[1], c.scales) : [1];
    const rowsOut: number[][] = [];
    for (const r of rs) for (const tx of ts) for (const ty of ts) for (const s of ss) rowsOut.push([r, tx, ty, s]);
    const size = (p: number[]) => this.transformSizeValues(p)[0]!;
    const l2 = (p: number[]) => p.reduce((acc, v, k) => acc + ((v - IDENTITY[k]!) / (this.above[k]! || 1)) ** 2, 0);
    // Sorted by distance, then by normalised L2 size; ties keep the generation order (stable sort).
    rowsOut.sort((a, b) => size(a) - size(b) || l2(a) - l2(b));
    return Float32Array.from(rowsOut.flat());
  }

  transformSizeValues(params: ArrayLike<number>): Float32Array {
    const n = Math.floor(params.length / SPATIAL_DIMS);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let m = 0;
      for (let k = 0; k < SPATIAL_DIMS; k++) {
        const d = params[i * SPATIAL_DIMS + k]! - IDENTITY[k]!;
        const range = d < 0 ? this.below[k]! : this.above[k]!;
        if (range > 0) m = Math.max(m, Math.abs(d) / range);
      }
      out[i] = m;
    }
    return out;
  }

  distance(xAdv: tf.Tensor, x: tf.Tensor): tf.Tensor1D {
    return tf.tidy(() => tf.max(tf.abs(tf.reshape(tf.sub(xAdv, x), [x.shape[0]!, -1])), 1) as tf.Tensor1D);
  }

  check(x: tf.Tensor, xAdv: tf.Tensor, reported?: ArrayLike<number>): ThreatCheck {
    const n = x.shape[0]!;
    if (xAdv.shape[0] !== n) throw new Error(`spatial check: ${xAdv.shape[0]} adversarial inputs for ${n} inputs`);
    const distance = reported ? Float32Array.from(reported) : new Float32Array(n).fill(NaN);
    const limit = 1 + BUDGET_SLACK;
    return { distance, inside: Uint8Array.from(distance, (v) => (v <= limit ? 1 : 0)) };
  }

  scaled(factor: number): SpatialThreat {
    const s = (v: number) => 1 + (v - 1) * factor;
    return spatialThreat({ rotation: this.rotation * factor, translation: this.translation * factor, scale: [s(this.scale[0]), s(this.scale[1])], padding: this.padding });
  }

  transformSize(params: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => {
      const d = tf.sub(params, tf.tensor2d([Array.from(IDENTITY)]));
      const inv = (r: number[]) => tf.tensor2d([r.map((v) => (v > 0 ? 1 / v : 0))]);
      const norm = tf.where(tf.less(d, 0), tf.mul(tf.neg(d), inv(this.below)), tf.mul(d, inv(this.above)));
      return tf.max(norm, 1) as tf.Tensor1D;
    });
  }

  ascentStep(grad: tf.Tensor2D, stepSize: number): tf.Tensor2D {
    return tf.tidy(() => {
      const half = this.upper.map((u, k) => (u - this.lower[k]!) / 2);
      return tf.mul(tf.sign(grad), tf.mul(tf.tensor2d([half]), stepSize)) as tf.Tensor2D;
    });
  }
}

/**
 * Builds a spatial threat model.
 *
 * @example
 * ```ts
 * const t = spatialThreat({ rotation: 30, translation: 3 });               // Engstrom et al.
 * const s = spatialThreat({ rotation: 15, translation: 2, scale: [0.9, 1.1], padding: 'edge' });
 * ```
 */
export function spatialThreat(spec: SpatialThreatSpec): SpatialThreat {
  const { rotation, translation } = spec;
  const scale = spec.scale ?? [1, 1];
  const padding = spec.padding ?? 'zeros';
  if (!(rotation >= 0 && rotation <= 180)) throw new UserError(`spatial rotation must be between 0 and 180 degrees (got ${rotation})`);
  if (!(translation >= 0) || !Number.isFinite(translation)) throw new UserError(`spatial translation must be a finite number of pixels ≥ 0 (got ${translation})`);
  if (!(scale[0] > 0 && scale[0] <= 1 && scale[1] >= 1 && Number.isFinite(scale[1]))) {
    throw new UserError(`spatial scale range must be MIN-MAX with 0 < MIN ≤ 1 ≤ MAX, e.g. scale=0.9-1.1 (got ${scale[0]}-${scale[1]})`);
  }
  if (padding !== 'zeros' && padding !== 'edge') throw new UserError(`spatial padding must be 'zeros' or 'edge' (got '${padding}')`);
  return new SpatialBox(rotation, translation, [scale[0], scale[1]], padding);
}

/**
 * Parses the CLI form `spatial:rot=DEG,trans=PX[,scale=MIN-MAX][,pad=zeros|edge]`. A key left out
 * is 0 (no rotation, no translation) or the default (no scaling, zero padding); plain `spatial`
 * is Engstrom et al.'s `spatial:rot=30,trans=3`.
 *
 * @example
 * ```ts
 * const t = parseSpatialThreat('spatial:rot=30,trans=3,scale=0.9-1.1');
 * ```
 */
export function parseSpatialThreat(text: string): SpatialThreat {
  const s = text.trim();
  const usage = `write spatial:rot=DEG,trans=PX[,scale=MIN-MAX][,pad=zeros|edge], e.g. spatial:rot=30,trans=3`;
  if (s === 'spatial') return spatialThreat({ rotation: 30, translation: 3 });
  if (!s.startsWith('spatial:')) throw new UserError(`cannot read spatial threat '${text}': ${usage}`);
  const spec: SpatialThreatSpec = { rotation: 0, translation: 0 };
  const num = (k: string, v: string) => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x)) throw new UserError(`spatial threat '${text}': ${k}=${v} is not a number; ${usage}`);
    return x;
  };
  for (const part of s.slice('spatial:'.length).split(',')) {
    const [k, v, ...rest] = part.split('=');
    if (v === undefined || rest.length > 0) throw new UserError(`cannot read '${part}' in spatial threat '${text}': ${usage}`);
    switch (k!.trim()) {
      case 'rot':
        spec.rotation = num('rot', v);
        break;
      case 'trans':
        spec.translation = num('trans', v);
        break;
      case 'scale': {
        const m = /^\s*([0-9.eE+]+)\s*-\s*([0-9.eE+]+)\s*$/.exec(v);
        if (!m) throw new UserError(`spatial threat '${text}': scale must be MIN-MAX, e.g. scale=0.9-1.1`);
        spec.scale = [num('scale', m[1]!), num('scale', m[2]!)];
        break;
      }
      case 'pad':
        spec.padding = v.trim() as SpatialPadding;
        break;
      default:
        throw new UserError(`unknown key '${k}' in spatial threat '${text}': ${usage}`);
    }
  }
  return spatialThreat(spec);
}
