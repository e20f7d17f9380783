/**
 * Loading the native engine (a Node-API addon on oneDNN, built by `native/build.mjs` into
 * `native/build/Release/advtrain_native.node`). Loading never throws: it says why it failed.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The geometry of a 2-D pooling (NHWC, dilation 1), as the addon's pooling functions take it:
 * input [batch, inHeight, inWidth, channels], windows filterHeight × filterWidth moved by
 * strideHeight × strideWidth, output [batch, outHeight, outWidth, channels], and the padding
 * before the first row and column (padded cells are skipped).
 */
export interface PoolGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  channels: number;
  filterHeight: number;
  filterWidth: number;
  outHeight: number;
  outWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
}

/** What the C++ addon exports. Tensors are byte offsets into the wasm heap (-1: none). */
export interface NativeAddon {
  /** conv2d(heap, x, filter, bias, y, N,H,W,C, KH,KW,O, OH,OW, sh,sw, dh,dw, pt,pl, relu) */
  conv2d(heap: Uint8Array, ...args: number[]): void;
  /** conv2dBackpropInput(heap, dy, filter, dx, N,H,W,C, KH,KW,O, OH,OW, sh,sw, dh,dw, pt,pl) */
  conv2dBackpropInput(heap: Uint8Array, ...args: number[]): void;
  /**
   * conv2dBackpropFilter(heap, x, dy, dw, dbias, N,H,W,C, KH,KW,O, OH,OW, sh,sw, dh,dw, pt,pl).
   * Below 256 MFLOP (or `$ADVTRAIN_NATIVE_CBF_SERIAL_FLOPS`) on one thread: oneDNN's reduction
   * over threads spins in barriers, ~4 ms per call measured when other processes hold the cores.
   */
  conv2dBackpropFilter(heap: Uint8Array, ...args: number[]): void;
  /** matMul(heap, a, b, bias, c, batchA, batchB, M, K, N, transposeA, transposeB, relu) */
  matMul(heap: Uint8Array, ...args: number[]): void;
  /**
   * fabStep(norm 0 linf / 1 l2 / 2 l1, alphaMax, eta, b, m, d, grads, diff, cur, x0, lo, hi, next):
   * FAB's host-side step on JS typed arrays (see src/attacks/fab-step.ts), rows over the threads.
   * Optional: an addon built before it existed lacks it, and FAB then runs the JS version.
   */
  fabStep?(
    norm: number, alphaMax: number, eta: number, b: number, m: number, d: number,
    grads: Float32Array, diff: Float32Array, cur: Float32Array, x0: Float32Array, lo: Float64Array, hi: Float64Array, next: Float32Array,
  ): void;
  /**
   * denseStackForward(heap, desc, batch, inDim, x, out, acts): a run of Dense layers in one call.
   * desc holds [W, bias (-1: none), units, relu 0/1] per layer (W [in, units], tfjs's layout); x is
   * [batch, inDim]; the logits go to out, the hidden activations (after their ReLU, batch × units
   * floats per hidden layer, one after the other) to acts. The rows are split between the threads,
   * each running every layer on its own rows (one wake-up of the pool per call); one thread below
   * 4 MFLOP of forward work (`$ADVTRAIN_NATIVE_STACK_SERIAL_FLOPS`) and at least 8 rows a thread.
   */
  denseStackForward(heap: Uint8Array, desc: Float64Array, batch: number, inDim: number, x: number, out: number, acts: number): void;
  /**
   * denseStackBackward(heap, desc, batch, inDim, x, acts, dy, dx, grads): from dy (the logits'
   * gradient), the input gradient into dx (-1: not wanted) and/or, where grads ([dW, db (-1: none)]
   * per layer) is given, every kernel's and bias's gradient. acts: what denseStackForward wrote
   * (-1: recompute it). The last layer must not have a ReLU.
   */
  denseStackBackward(heap: Uint8Array, desc: Float64Array, batch: number, inDim: number, x: number, acts: number, dy: number, dx: number, grads: Float64Array | null): void;
  /**
   * denseStackCrossEntropy(heap, desc, batch, inDim, x, labels, logits, loss, dx, success): an
   * attack's cross-entropy probe in one call: the logits [batch, classes], each row's softmax
   * cross-entropy against its int32 class index (labels [batch]) into loss, the gradient of their
   * sum with respect to x into dx, and into success (bool [batch]) whether the row's first largest
   * logit is not its label. (Absent from addons built before it; the tape path is used there.)
   */
  denseStackCrossEntropy?(heap: Uint8Array, desc: Float64Array, batch: number, inDim: number, x: number, labels: number, logits: number, loss: number, dx: number, success: number): void;
  /**
   * softmaxCrossEntropy(heap, logits, labels, out, rows, classes, sparse, reduction): the softmax
   * cross-entropy of logits [rows, classes] against int32 class indices [rows] (sparse 1; an index
   * outside [0, classes) gives 0) or float32 label distributions [rows, classes] (sparse 0:
   * −Σ y·log softmax), the log-sum-exp taken around each row's largest logit; into out a loss per
   * row (reduction 0), their sum (1) or their mean (2).
   */
  softmaxCrossEntropy(heap: Uint8Array, logits: number, labels: number, out: number, rows: number, classes: number, sparse: number, reduction: number): void;
  /**
   * softmaxCrossEntropyGrad(heap, logits, labels, dy, dz, rows, classes, sparse, reduction): the
   * logits' gradient `dz = dy·(softmax − y)` per row (y one-hot for class indices), dy [rows]
   * (reduction 0) or a scalar (1: sum; 2: mean, also divided by rows).
   */
  softmaxCrossEntropyGrad(heap: Uint8Array, logits: number, labels: number, dy: number, dz: number, rows: number, classes: number, sparse: number, reduction: number): void;
  /** Max pooling of x [N,H,W,C] into y [N,OH,OW,C]. */
  maxPool(heap: Uint8Array, x: number, y: number, geometry: PoolGeometry): void;
  /** The gradient of max pooling: dy [N,OH,OW,C] to the first greatest cell of each window of x, into dx. */
  maxPoolGrad(heap: Uint8Array, x: number, dy: number, dx: number, geometry: PoolGeometry): void;
  /** Average pooling of x into y (padded cells are not counted). */
  avgPool(heap: Uint8Array, x: number, y: number, geometry: PoolGeometry): void;
  /** The gradient of average pooling: dy / (filterHeight·filterWidth) to every cell of each window, into dx. */
  avgPoolGrad(heap: Uint8Array, dy: number, dx: number, geometry: PoolGeometry): void;
  /** sumRows(heap, x, out, rows, cols): column sums of a [rows, cols] matrix */
  sumRows(heap: Uint8Array, ...args: number[]): void;
  /** sumTrailing(heap, x, out, outer, r): out[o] = sum of x[o·r .. o·r + r), a sum over trailing axes (outer 1: the whole tensor). */
  sumTrailing(heap: Uint8Array, ...args: number[]): void;
  /**
   * adamUpdate(heap, desc, b1, 1-b1, b2, 1-b2, 1-b1^t, 1-b2^t, eps, -lr): tfjs's Adam step for
   * every variable in `desc` ([w, g, m, v byte offsets, element count] per variable), in place:
   * `m = m*b1 + g*(1-b1)`, `v = v*b2 + g*g*(1-b2)`, `w = ((m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps))*(-lr) + w`,
   * in float32 with tfjs's order of operations (the scalars are rounded to float32). w, m and v
   * must be buffers no other tensor uses; g is only read.
   */
  adamUpdate(heap: Uint8Array, desc: Float64Array, ...scalars: number[]): void;
  /**
   * sgdUpdate(heap, desc, -lr, momentum, nesterov): tfjs's SGD or momentum step for every variable
   * in `desc` ([w, g, acc byte offsets, element count] per variable; acc -1 for plain SGD), in
   * place: `w = -lr*g + w`, or `acc = momentum*acc + g; w = -lr*acc + w` (Nesterov:
   * `w = -lr*(g + acc*momentum) + w`), in float32 with tfjs's order of operations.
   */
  sgdUpdate(heap: Uint8Array, desc: Float64Array, negLr: number, momentum: number, nesterov: number): void;
  /** relu(heap, x, y, n): y = max(0, x) as tfjs's cpu kernel (NaN stays NaN, -0 becomes 0). */
  relu(heap: Uint8Array, ...args: number[]): void;
  /** reluGrad(heap, dy, x, dx, n): dx = dy * step(x), tfjs's ReLU gradient (step(NaN) = NaN). */
  reluGrad(heap: Uint8Array, ...args: number[]): void;
  /**
   * Flush denormal floats to zero in the engine's kernels (MXCSR FTZ/DAZ, the default, as
   * TensorFlow's CPU runtime does: denormal gradients made training steps 5–8× slower) or keep
   * them (exact IEEE results, as tfjs's cpu kernels). `$ADVTRAIN_NATIVE_DENORMALS=keep` sets the default to keep.
   */
  setFlushDenormals(on: boolean): void;
  getFlushDenormals(): boolean;
  /** reduceMax(heap, x, y, outer, r, inner): y[o, i] = max over k of x[o, k, i] (NaN if any is NaN). */
  reduceMax(heap: Uint8Array, ...args: number[]): void;
  /** maxGrad(heap, dy, x, y, dx, outer, r, inner): dx[o, k, i] = dy[o, i] * (x[o, k, i] == y[o, i]), tfjs's gradient of Max. */
  maxGrad(heap: Uint8Array, ...args: number[]): void;
  /** addBias(heap, x, b, y, rows, cols): y[r, c] = x[r, c] + b[c]; rows = 1 adds two equal shapes. */
  addBias(heap: Uint8Array, ...args: number[]): void;
  /**
   * gather(heap, x, indices, out, batch, outer, dim, slice, m): GatherV2 on any axis and
   * batchDims, x viewed as [batch, outer, dim, slice] of 4-byte elements (float32 or int32) and the
   * int32 indices as [batch, m]: `out[b, o, j, :] = x[b, o, indices[b, j], :]` (axis 0: the
   * embedding look-up; batchDims 1: the per-row gather of the l1 projection). Rows go to several
   * threads only from 16M floats (64 MB) moved, or from `$ADVTRAIN_NATIVE_EMBEDDING_PARALLEL_MIN`
   * floats where that is set: the copy is memory-bound and a second thread measured no faster
   * below that on a loaded 2-core machine. Returns -1, or the position of the first index outside
   * [0, dim), in which case nothing was written. Every size must be positive.
   */
  gather(heap: Uint8Array, x: number, indices: number, out: number, batch: number, outer: number, dim: number, slice: number, m: number): number;
  /**
   * unsortedSegmentSum(heap, x, segmentIds, out, n, inner, numSegments, isInt32):
   * `out[s, :] = Σ x[i, :]` over the i with `segmentIds[i] = s`, for x [n, inner] (float32, or int32
   * when isInt32 = 1, adding with int32 wrap-around) and out [numSegments, inner]; ids outside
   * [0, numSegments) are dropped, rows no id reaches are 0 (the gradient of an embedding table).
   * Threads (from the same size threshold as `gather`, counting x and out) own disjoint ranges of
   * segments and add in order of i, so the result is the same for any thread count. n, inner and
   * numSegments must be positive.
   */
  unsortedSegmentSum(heap: Uint8Array, x: number, segmentIds: number, out: number, n: number, inner: number, numSegments: number, isInt32: number): void;
  /** Convolutions in oneDNN's blocked layouts with reorders (true) or directly in NHWC (false, default). */
  setLayout(blocked: boolean): void;
  setThreads(n: number): void;
  getThreads(): number;
  clearCache(): void;
  /** oneDNN's verbose mode from now on: 0 off, 1 a line per primitive run with its time in ms (on stdout), 2 also creations. */
  setVerbose(level: number): void;
  /**
   * The Conv2DBackpropInput / Conv2DBackpropFilter calls advtrain's own kernels computed since the
   * load, and the milliseconds they took. `sparse`: stride 1, dilation 1, 5×5 or 3×3, input
   * channels a multiple of 16, and a dY at most 25% (input) or 30% (filter) nonzero, or
   * `$ADVTRAIN_NATIVE_SPARSE_GRAD_DENSITY` (0: never). `fewChannel` (input gradients only): at most
   * 4 input channels (a first layer), dilation 1, at most 128 taps
   * (`$ADVTRAIN_NATIVE_FEW_CHANNEL_GRAD=0`: never).
   */
  convGradStats(): { sparse: GradKernelStats; fewChannel: GradKernelStats };
  cacheSize(): number;
  info(): { onednn: string; runtime: string; isa: string };
}

/** Calls and time of one of advtrain's own convolution-gradient kernels; `available` is false where the CPU lacks what the kernel needs (sparse: AVX-512; few-channel: AVX-512 or AVX2 with FMA), and oneDNN computes those gradients. */
export type GradKernelStats = { calls: number; ms: number; available: boolean };

export type LoadResult = { ok: true; addon: NativeAddon; path: string } | { ok: false; reason: string };

const ADDON_FILE = join('native', 'build', 'Release', 'advtrain_native.node');
const HOW = 'apt-get install libdnnl-dev && npm rebuild advtrain';

/** The package root: the first folder above this module that holds native/binding.gyp. */
function packageRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'native', 'binding.gyp'))) return dir;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

let loaded: LoadResult | undefined;

/**
 * Loads the addon once (later calls return the same answer). `ADVTRAIN_NATIVE=0` turns the native
 * engine off; `ADVTRAIN_NATIVE_PATH` points at another build of the addon.
 */
export function loadNativeAddon(): LoadResult {
  if (loaded) return loaded;
  loaded = tryLoad();
  return loaded;
}

function tryLoad(): LoadResult {
  if (process.env.ADVTRAIN_NATIVE === '0') return { ok: false, reason: 'native engine turned off (ADVTRAIN_NATIVE=0)' };
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return { ok: false, reason: `native engine not available on ${process.platform}-${process.arch} (linux-x64 only)` };
  }
  const root = packageRoot();
  const path = process.env.ADVTRAIN_NATIVE_PATH ?? (root ? join(root, ADDON_FILE) : undefined);
  if (!path || !existsSync(path)) {
    const haveDnnl = existsSync('/usr/include/oneapi/dnnl/dnnl.hpp') || existsSync('/usr/local/include/oneapi/dnnl/dnnl.hpp');
    return {
      ok: false,
      reason: haveDnnl
        ? 'native engine not built: npm rebuild advtrain (or node native/build.mjs --verbose to see why it failed)'
        : `native engine not built (libdnnl-dev missing): ${HOW}`,
    };
  }
  // OpenMP threads sleep, rather than spin, between kernels unless the user chose otherwise: the
  // JS thread runs wasm element-wise ops between native kernels, and a spinning OpenMP thread takes
  // the core it (or another process) needs. Measured on this 2-core machine under load: train
  // 271 -> 381-455 ex/s, igrad 308 -> 844-987 ex/s with 2 threads. libgomp reads this when it
  // loads, i.e. with the addon just below.
  if (process.env.OMP_WAIT_POLICY === undefined && process.env.GOMP_SPINCOUNT === undefined) process.env.OMP_WAIT_POLICY = 'PASSIVE';
  try {
    const require = createRequire(import.meta.url);
    const addon = require(path) as NativeAddon;
    addon.info();
    return { ok: true, addon, path };
  } catch (e) {
    const msg = String((e as Error).message ?? e).split('\n')[0]!;
    return { ok: false, reason: `native engine failed to load (${msg.slice(0, 160)}): ${HOW}` };
  }
}
