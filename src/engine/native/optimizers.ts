/**
 * Optimizers whose update runs in the native engine: one fused, multithreaded kernel per step
 * updates every variable and its slots (Adam's moments) in place in the wasm heap, instead of a
 * dozen single-threaded wasm element-wise kernels per variable and fresh buffers for every result.
 *
 * {@link NativeAdamOptimizer} *is* a `tf.AdamOptimizer` (a subclass): same class name ('Adam'), same
 * config, same `getWeights()` / `setWeights()` layout (`iter`, then every `<var>/m`, then every
 * `<var>/v`), so checkpoints move freely between it and `tf.train.adam`. It computes tfjs's exact
 * float32 steps in tfjs's order (bias correction by division, epsilon added after the square
 * root), so its numbers equal tfjs's. {@link NativeSGDOptimizer} and {@link NativeMomentumOptimizer}
 * do the same for `tf.train.sgd` and `tf.train.momentum`. Whenever the native engine is not active
 * (another backend, the kernels unregistered, a tensor that is not float32 on wasm), a step runs
 * tfjs's own update.
 *
 * In-place writes are safe because each buffer written belongs to its variable alone: tfjs shares
 * buffers between tensors (`variable.assign(t)`, `clone()`, `reshape()` keep the same data), so a
 * variable whose buffer another live tensor also holds first gets a private copy — what
 * `assign` with a fresh result would have done.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensor, NamedVariableMap } from '@tensorflow/tfjs-core/dist/tensor_types.js';
import type { OptimizerVariable } from '@tensorflow/tfjs-core/dist/optimizers/optimizer.js';
import { nativeHost, type WasmHost } from './kernels/context.js';

/** tfjs 4.22's `AdamOptimizer` fields the native update reads and writes (private in its typings). */
interface AdamState {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: (OptimizerVariable | undefined)[];
  accumulatedSecondMoment: (OptimizerVariable | undefined)[];
}

/** How many native steps ran, and how many buffers had to be copied because they were shared. */
export interface NativeOptimizerStats {
  steps: number;
  fallbacks: number;
  copies: number;
  lastFallback?: string;
}
const stats: NativeOptimizerStats = { steps: 0, fallbacks: 0, copies: 0 };

/** Counts of native optimizer steps, tfjs fallbacks and private copies since the last reset. */
export function nativeOptimizerStats(reset = false): NativeOptimizerStats {
  const s = { ...stats };
  if (reset) Object.assign(stats, { steps: 0, fallbacks: 0, copies: 0, lastFallback: undefined });
  return s;
}

/** Whether an optimizer made now would update natively (wasm backend with the native kernels registered). */
export function nativeOptimizersActive(): boolean {
  return nativeHost() !== undefined;
}

function offsetOf(b: WasmHost, t: tf.TensorInfo): number {
  const d = b.dataIdMap.get(t.dataId);
  if (!d) throw new Error('advtrain native: tensor is not on the wasm backend');
  return d.memoryOffset;
}

/** Gives `v` a buffer of its own when another tensor shares its current one. */
function ensureOwned(b: WasmHost, v: tf.Variable): void {
  if (b.refCount(v.dataId) <= 1) return;
  const out = b.makeOutput([...v.shape], 'float32'); // may grow the heap: offsets are read after
  const src = offsetOf(b, v);
  b.wasm.HEAPU8.copyWithin(offsetOf(b, out), src, src + v.size * 4);
  const t = tf.engine().makeTensorFromTensorInfo(out);
  v.assign(t);
  t.dispose();
  stats.copies++;
}

/** Why a variable, its gradient and its slots cannot be updated natively, or undefined if they can. */
function unfit(b: WasmHost, value: tf.Variable, grad: tf.Tensor, ...slots: tf.Variable[]): string | undefined {
  const all = [value, grad, ...slots];
  if (all.some((t) => t.dtype !== 'float32')) return 'not float32';
  if (all.some((t) => !tf.util.arraysEqual(t.shape, value.shape))) return 'shapes differ';
  if (all.some((t) => !b.dataIdMap.get(t.dataId))) return 'tensor not on the wasm backend';
  return undefined;
}

const f32 = Math.fround;

/**
 * `tf.train.adam` with its update in the native engine. Use it like `tf.train.adam(lr)`; the
 * learning rate may change between steps (`opt.learningRate = lr`, as the Trainer does).
 *
 * @example
 * ```ts
 * registerNativeKernels();
 * const opt = new NativeAdamOptimizer(1e-3);
 * opt.minimize(() => loss(), false, vars);
 * ```
 */
export class NativeAdamOptimizer extends tf.AdamOptimizer {
  constructor(learningRate: number, beta1 = 0.9, beta2 = 0.999, epsilon: number | null = null) {
    super(learningRate, beta1, beta2, epsilon as number);
  }

  override applyGradients(variableGradients: NamedVariableMap | NamedTensor[]): void {
    const native = nativeHost();
    if (!native) return super.applyGradients(variableGradients);
    const { backend: b, addon } = native;
    const s = this as unknown as AdamState;
    const names = Array.isArray(variableGradients) ? variableGradients.map((v) => v.name) : Object.keys(variableGradients);
    const gradOf = (i: number) => (Array.isArray(variableGradients) ? variableGradients[i]!.tensor : variableGradients[names[i]!]);
    const work: [tf.Variable, tf.Tensor, tf.Variable, tf.Variable][] = [];
    for (let i = 0; i < names.length; i++) {
      const value = tf.engine().registeredVariables[names[i]!];
      const grad = gradOf(i);
      if (!value) return super.applyGradients(variableGradients); // tfjs's error for an unknown variable
      // Slots as tfjs makes them: by position, zeros like the variable, also where the gradient is missing.
      const m = (s.accumulatedFirstMoment[i] ??= { originalName: `${names[i]}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) });
      const v = (s.accumulatedSecondMoment[i] ??= { originalName: `${names[i]}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) });
      if (grad == null) continue;
      const why = unfit(b, value, grad, m.variable, v.variable);
      if (why) {
        stats.fallbacks++;
        stats.lastFallback = `${names[i]}: ${why}`;
        return super.applyGradients(variableGradients);
      }
      if (value.size > 0) work.push([value, grad, m.variable, v.variable]);
    }
    const desc = new Float64Array(work.length * 5);
    let n = 0;
    for (const [value, grad, m, v] of work) {
      for (const t of [value, m, v]) ensureOwned(b, t);
      desc.set([offsetOf(b, value), offsetOf(b, grad), offsetOf(b, m), offsetOf(b, v), value.size], n);
      n += 5;
    }
    // tfjs keeps beta^t in float32 variables; the same values, read back.
    const acc1 = s.accBeta1.dataSync()[0]!;
    const acc2 = s.accBeta2.dataSync()[0]!;
    addon.adamUpdate(
      b.wasm.HEAPU8, // read after every allocation above
      desc.subarray(0, n),
      f32(s.beta1),
      f32(1 - s.beta1),
      f32(s.beta2),
      f32(1 - s.beta2),
      f32(1 - acc1),
      f32(1 - acc2),
      f32(s.epsilon),
      f32(-s.learningRate),
    );
    tf.tidy(() => {
      s.accBeta1.assign(tf.mul(s.accBeta1, s.beta1));
      s.accBeta2.assign(tf.mul(s.accBeta2, s.beta2));
    });
    stats.steps++;
    this.incrementIterations();
  }
}

/** tfjs 4.22's `MomentumOptimizer` fields (private in its typings). */
interface MomentumState {
  learningRate: number;
  momentum: number;
  useNesterov: boolean;
  accumulations: (OptimizerVariable | undefined)[];
}

type Gradients = NamedVariableMap | NamedTensor[];

/**
 * One native SGD or momentum step over every variable with a gradient; false (nothing done) where
 * the native engine cannot run it. `slot(i, name, value)` gives variable i's accumulation (momentum).
 */
function sgdStep(grads: Gradients, learningRate: number, momentum?: { mu: number; nesterov: boolean; slot(i: number, name: string, value: tf.Variable): tf.Variable }): boolean {
  const native = nativeHost();
  if (!native) return false;
  const { backend: b, addon } = native;
  const names = Array.isArray(grads) ? grads.map((v) => v.name) : Object.keys(grads);
  const work: [tf.Variable, tf.Tensor, tf.Variable | undefined][] = [];
  for (let i = 0; i < names.length; i++) {
    const value = tf.engine().registeredVariables[names[i]!];
    if (!value) return false; // tfjs's own error
    const acc = momentum?.slot(i, names[i]!, value); // tfjs makes the slot before it looks at the gradient
    const grad = Array.isArray(grads) ? grads[i]!.tensor : grads[names[i]!];
    if (grad == null) continue;
    const why = unfit(b, value, grad, ...(acc ? [acc] : []));
    if (why) {
      stats.fallbacks++;
      stats.lastFallback = `${names[i]}: ${why}`;
      return false;
    }
    if (value.size > 0) work.push([value, grad, acc]);
  }
  const desc = new Float64Array(work.length * 4);
  work.forEach(([value, grad, acc], j) => {
    ensureOwned(b, value);
    if (acc) ensureOwned(b, acc);
    desc.set([offsetOf(b, value), offsetOf(b, grad), acc ? offsetOf(b, acc) : -1, value.size], 4 * j);
  });
  addon.sgdUpdate(b.wasm.HEAPU8, desc, f32(-learningRate), f32(momentum?.mu ?? 0), momentum?.nesterov ? 1 : 0);
  stats.steps++;
  return true;
}

/**
 * `tf.train.sgd` with its update in the native engine (same class name 'SGD', same numbers).
 *
 * @example
 * ```ts
 * const opt = new NativeSGDOptimizer(0.1);
 * ```
 */
export class NativeSGDOptimizer extends tf.SGDOptimizer {
  override applyGradients(variableGradients: Gradients): void {
    if (!sgdStep(variableGradients, this.learningRate)) return super.applyGradients(variableGradients);
    this.incrementIterations();
  }
}

/**
 * `tf.train.momentum` with its update in the native engine (same class name 'Momentum', same
 * slots `<var>/momentum`, same numbers).
 *
 * @example
 * ```ts
 * const opt = new NativeMomentumOptimizer(0.01, 0.9);
 * ```
 */
export class NativeMomentumOptimizer extends tf.MomentumOptimizer {
  override applyGradients(variableGradients: Gradients): void {
    const s = this as unknown as MomentumState;
    const slot = (i: number, name: string, value: tf.Variable) =>
      (s.accumulations[i] ??= { originalName: `${name}/momentum`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) }).variable;
    if (!sgdStep(variableGradients, s.learningRate, { mu: s.momentum, nesterov: s.useNesterov, slot })) return super.applyGradients(variableGradients);
    this.incrementIterations();
  }
}
