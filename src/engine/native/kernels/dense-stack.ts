/**
 * The dense stack: a run of Dense layers (`x · W + b`, ReLU or not) as ONE kernel of the native
 * engine, forward and backward. tfjs runs a 3-layer MLP's input gradient as ~60 kernels, each a
 * crossing from JS with its own tensor bookkeeping; here the forward is one native call and the
 * backward one more (the input gradient; or all the kernel and bias gradients at once).
 *
 * The forward writes the hidden activations the backward needs right behind the logits, in the
 * logits' own buffer (freed with it; the tensor's shape is the logits'): the tape saves the logits
 * (a no-copy Identity on the native engine) and the backward finds them there. Where the saved
 * tensor is a copy, the backward recomputes them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { disabled, engine, host, off, stat, type Inputs, type KernelArgs, type WasmHost } from './context.js';

export const DENSE_STACK = 'AdvtrainDenseStack';

/** Per layer, first layer first: whether a ReLU follows, whether it has a bias. */
export interface DenseStackAttrs {
  relu: boolean[];
  bias: boolean[];
}

/** Buffers whose logits are followed by the hidden activations. */
const withActivations = new WeakSet<object>();

/**
 * The kernel's inputs are an array (the tape then saves them all, as for AddN): x, then each
 * layer's kernel and (where it has one) bias. Their names by position: x, w0, b0, w1, …
 */
export function denseStackInputNames(attrs: DenseStackAttrs): string[] {
  const names = ['x'];
  attrs.bias.forEach((hasBias, l) => names.push(`w${l}`, ...(hasBias ? [`b${l}`] : [])));
  return names;
}

function named(inputs: tf.TensorInfo[], attrs: DenseStackAttrs): Inputs {
  return Object.fromEntries(denseStackInputNames(attrs).map((n, i) => [n, inputs[i]!]));
}

interface Geometry {
  batch: number;
  inDim: number;
  units: number[];
  hidden: number;
  desc: Float64Array;
}

function geometry(b: WasmHost, inputs: Inputs, attrs: DenseStackAttrs): Geometry {
  const { x } = inputs;
  const batch = x!.shape[0]!;
  const inDim = tf.util.sizeFromShape(x!.shape) / (batch || 1);
  const L = attrs.relu.length;
  const desc = new Float64Array(4 * L);
  const units: number[] = [];
  let hidden = 0;
  for (let l = 0; l < L; l++) {
    const w = inputs[`w${l}`]!;
    const bias = attrs.bias[l] ? inputs[`b${l}`] : undefined;
    units.push(w.shape[1]!);
    desc.set([off(b, w), bias ? off(b, bias) : -1, w.shape[1]!, attrs.relu[l] ? 1 : 0], 4 * l);
    if (l + 1 < L) hidden += batch * w.shape[1]!;
  }
  return { batch, inDim, units, hidden, desc };
}

export function denseStackKernel(args: KernelArgs): tf.TensorInfo {
  const attrs = args.attrs as unknown as DenseStackAttrs;
  const inputs = named(args.inputs as unknown as tf.TensorInfo[], attrs);
  const b = host(args);
  const g = geometry(b, inputs, attrs);
  const logitsFloats = g.batch * g.units[g.units.length - 1]!;
  const offset = b.wasm._malloc(4 * (logitsFloats + g.hidden)) >>> 0;
  const out = b.makeOutput([g.batch, g.units[g.units.length - 1]!], 'float32', offset);
  try {
    engine.addon!.denseStackForward(b.wasm.HEAPU8, g.desc, g.batch, g.inDim, off(b, inputs.x!), offset, offset + 4 * logitsFloats);
  } catch (e) {
    b.disposeData(out.dataId, true);
    throw e;
  }
  withActivations.add(out.dataId);
  stat(DENSE_STACK).native++;
  return out;
}

/**
 * The gradient: one native call for the input's, one for all the kernels' and biases' (made on the
 * first of them the tape asks for; the others are then ready). Their tensors are made up front, in
 * the scope of the whole gradient computation, so that the ones asked for later outlive the first.
 */
export const denseStackGrad: tf.GradConfig = {
  kernelName: DENSE_STACK,
  saveAllInputs: true,
  outputsToSave: [true],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrsMap: tf.NamedAttrMap) => {
    const attrs = attrsMap as unknown as DenseStackAttrs;
    const names = denseStackInputNames(attrs);
    const inputs = named(saved, attrs);
    const logits = saved[names.length]!;
    const d = Array.isArray(dy) ? dy[0]! : dy;
    const b = tf.backend() as unknown as WasmHost;
    const g = geometry(b, inputs, attrs);
    const acts = () => (withActivations.has(logits.dataId) ? off(b, logits) + 4 * g.batch * g.units[g.units.length - 1]! : -1);
    const x = inputs.x!;
    const grads = names.slice(1).map((n) => tf.engine().makeTensorFromTensorInfo(b.makeOutput([...inputs[n]!.shape], 'float32'), tf.backend()));
    let weightsDone = false;
    const weights = () => {
      if (weightsDone) return;
      const desc = new Float64Array(2 * attrs.relu.length);
      let k = 0;
      attrs.bias.forEach((hasBias, l) => {
        desc[2 * l] = off(b, grads[k++]!);
        desc[2 * l + 1] = hasBias ? off(b, grads[k++]!) : -1;
      });
      engine.addon!.denseStackBackward(b.wasm.HEAPU8, g.desc, g.batch, g.inDim, off(b, x), acts(), off(b, d), -1, desc);
      weightsDone = true;
    };
    const out: Record<string, () => tf.Tensor> = {
      0: () => {
        const dx = b.makeOutput([...x.shape], 'float32');
        engine.addon!.denseStackBackward(b.wasm.HEAPU8, g.desc, g.batch, g.inDim, off(b, x), acts(), off(b, d), off(b, dx), null);
        return tf.engine().makeTensorFromTensorInfo(dx, tf.backend());
      },
    };
    grads.forEach((t, i) => {
      out[i + 1] = () => (weights(), t);
    });
    return out;
  },
};

/**
 * An attack's cross-entropy probe of a dense stack as one kernel: inputs x, each layer's kernel
 * and bias (as {@link DENSE_STACK}), then the int32 labels; outputs the logits, each example's
 * softmax cross-entropy, the gradient of their sum with respect to x, and whether each example's
 * prediction differs from its label (bool). One native call where the tape runs four (forward,
 * loss, its gradient, backward) with its own work between them, and ArgMax and NotEqual after.
 * Not differentiable: a probe's outputs are read, never differentiated.
 */
export const DENSE_STACK_CROSS_ENTROPY = 'AdvtrainDenseStackCrossEntropy';

export function denseStackCrossEntropyKernel(args: KernelArgs): tf.TensorInfo[] {
  const attrs = args.attrs as unknown as DenseStackAttrs;
  const all = args.inputs as unknown as tf.TensorInfo[];
  const inputs = named(all.slice(0, -1), attrs);
  const labels = all[all.length - 1]!;
  const b = host(args);
  const g = geometry(b, inputs, attrs);
  const x = inputs.x!;
  const outs = [b.makeOutput([g.batch, g.units[g.units.length - 1]!], 'float32'), b.makeOutput([g.batch], 'float32'), b.makeOutput([...x.shape], 'float32'), b.makeOutput([g.batch], 'bool')];
  try {
    engine.addon!.denseStackCrossEntropy!(b.wasm.HEAPU8, g.desc, g.batch, g.inDim, off(b, x), off(b, labels), off(b, outs[0]!), off(b, outs[1]!), off(b, outs[2]!), off(b, outs[3]!));
  } catch (e) {
    for (const o of outs) b.disposeData(o.dataId, true);
    throw e;
  }
  stat(DENSE_STACK_CROSS_ENTROPY).native++;
  return outs;
}

/** Whether the dense stack is switched on (registered, and not switched off for an A/B run). */
export function denseStackEnabled(): boolean {
  return engine.addon !== undefined && !disabled.has(DENSE_STACK);
}

/** Whether the one-call cross-entropy probe is there and switched on (an A/B run may switch it off). */
export function denseStackCrossEntropyEnabled(): boolean {
  return denseStackEnabled() && engine.addon?.denseStackCrossEntropy !== undefined && !disabled.has(DENSE_STACK_CROSS_ENTROPY);
}
