import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensor } from '@tensorflow/tfjs-core/dist/tensor_types.js';

/**
 * Everything an optimizer's next step depends on: its `getWeights()` (iteration count and slots)
 * plus the scalars tfjs keeps outside them. tfjs's Adam keeps β₁ᵗ and β₂ᵗ in two float32
 * variables, multiplied by β once per step, and its `setWeights()` re-derives them as
 * `pow(β, t + 1)`, which differs in the last bits from the running product after a few steps
 * (β₁ = 0.9: from step 8 on; β₂ = 0.999: from step 2 on). A restored Adam therefore steps
 * differently from the one that was saved; {@link restoreOptimizerState} writes the saved values
 * back instead.
 */
export interface OptimizerState {
  /** The optimizer's class name ('Adam', 'SGD', 'Momentum'), checked on restore. */
  className: string;
  /** `getWeights()` of the optimizer; owned by the state. */
  weights: NamedTensor[];
  /** Adam's β₁ᵗ and β₂ᵗ as float32 values, when the optimizer has them. */
  accBeta?: [number, number];
}

interface AdamScalars {
  accBeta1?: tf.Variable;
  accBeta2?: tf.Variable;
}

/**
 * Copies the state of `opt` (tensors cloned: the caller owns and disposes them with {@link disposeOptimizerState}).
 *
 * @example
 * ```ts
 * const s = await captureOptimizerState(opt);
 * // … steps …
 * await restoreOptimizerState(opt, s);
 * disposeOptimizerState(s);
 * ```
 */
export async function captureOptimizerState(opt: tf.Optimizer): Promise<OptimizerState> {
  const named = await opt.getWeights();
  // getWeights() returns a fresh iterations scalar and the live slot variables: clone the slots only.
  const weights = named.map(({ name, tensor }, i) => ({ name, tensor: i === 0 && name === 'iter' ? tensor : tensor.clone() }));
  const a = opt as unknown as AdamScalars;
  const accBeta: [number, number] | undefined = a.accBeta1 && a.accBeta2 ? [a.accBeta1.dataSync()[0]!, a.accBeta2.dataSync()[0]!] : undefined;
  return { className: opt.getClassName(), weights, ...(accBeta ? { accBeta } : {}) };
}

/** Puts a captured state back into `opt` (the state keeps its tensors; the optimizer's old slots are disposed). */
export async function restoreOptimizerState(opt: tf.Optimizer, s: OptimizerState): Promise<void> {
  if (opt.getClassName() !== s.className) throw new Error(`optimizer state of ${s.className} cannot be restored into ${opt.getClassName()}`);
  const old = await opt.getWeights();
  const copies = s.weights.map(({ name, tensor }) => ({ name, tensor: tensor.clone() }));
  await opt.setWeights(copies);
  // setWeights() made new variables of the copies (which hold their own reference) and left the
  // old slot variables alive; the iterations scalar of getWeights() is a fresh tensor.
  tf.dispose([...copies, ...old].map((n) => n.tensor));
  const a = opt as unknown as AdamScalars;
  if (s.accBeta && a.accBeta1 && a.accBeta2) {
    const [b1, b2] = s.accBeta;
    tf.tidy(() => {
      a.accBeta1!.assign(tf.scalar(b1));
      a.accBeta2!.assign(tf.scalar(b2));
    });
  }
}

/** Frees the tensors of a captured state. */
export function disposeOptimizerState(s: OptimizerState | undefined): void {
  if (s) tf.dispose(s.weights.map((n) => n.tensor));
}
