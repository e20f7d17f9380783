import { createRequire } from 'node:module';
import { existsSync, statSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import type { Domain } from '../data/domain.js';
import { UserError } from '../errors.js';
import { fromFunction, type Classifier, type ModelOutput } from './classifier.js';

/**
 * How to read an ONNX model as a {@link Classifier}.
 *
 * @example
 * ```ts
 * const opts: OnnxOptions = { inputShape: [28, 28, 1], numClasses: 10, domain: { lower: 0, upper: 1 }, layout: 'nchw', output: 'probabilities' };
 * const clf = await loadOnnxClassifier('net.onnx', opts);
 * ```
 */
export interface OnnxOptions {
  /** Shape of one input in advtrain's layout (NHWC for images: [h, w, c]), without the batch dimension. */
  inputShape: number[];
  numClasses: number;
  /** Valid inputs, in advtrain's input space. */
  domain: Domain;
  /** What the model's output is. Default 'logits'; with 'probabilities', logits are log(p). */
  output?: ModelOutput;
  /**
   * Layout the model expects for image inputs: 'nhwc' (TensorFlow/Keras exports, the default)
   * or 'nchw' (PyTorch exports). advtrain keeps NHWC; with 'nchw' each batch is transposed
   * before it is fed. Ignored for inputs that are not rank 3.
   */
  layout?: 'nhwc' | 'nchw';
  /** Which graph input to feed; default the first. */
  inputName?: string;
  /** Which graph output holds the logits/probabilities; default the first. */
  outputName?: string;
  /** Threads onnxruntime may use inside one run; default its own choice. */
  threads?: number;
}

/**
 * A Classifier backed by an ONNX model; query-only (no gradients).
 *
 * @example
 * ```ts
 * const clf: OnnxClassifier = await loadOnnxClassifier('net.onnx', { inputShape: [28, 28, 1], numClasses: 10, domain: { lower: 0, upper: 1 }, layout: 'nchw' });
 * try { console.log(evaluateClean(clf, data.test).accuracy); } finally { clf.dispose(); }
 * ```
 */
export interface OnnxClassifier extends Classifier {
  readonly inputName: string;
  readonly outputName: string;
  /** Model input shape as the ONNX graph declares it (symbolic dimensions as strings). */
  readonly modelInputShape: (number | string)[];
  /** Releases the native session. */
  dispose(): void;
}

// --- the few pieces of onnxruntime-node this adapter uses --------------------------------------

interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
  readonly type: string;
}
interface OrtTensorCtor {
  new (type: 'float32', data: Float32Array, dims: number[]): OrtTensor;
}
interface NativeValueMetadata {
  name: string;
  isTensor: boolean;
  symbolicDimensions: string[];
  shape: number[];
  type: number;
}
interface NativeSession {
  loadModel(path: string, options: Record<string, unknown>): void;
  readonly inputMetadata: NativeValueMetadata[];
  readonly outputMetadata: NativeValueMetadata[];
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, null>, options: Record<string, unknown>): Record<string, OrtTensor>;
  dispose(): void;
}
interface Runtime {
  Tensor: OrtTensorCtor;
  Session: new () => NativeSession;
}

const ORT_FLOAT = 1;

/** What to do instead, when gradients are asked of an ONNX model. */
export const QUERY_ONLY_ATTACKS = ['square', 'hopskipjump', 'genattack', 'de'];
const QUERY_ONLY = (path: string) =>
  `${path} is an ONNX model, which advtrain can only query (no gradients flow through it): use a query-only attack (${QUERY_ONLY_ATTACKS.join(', ')}), ` +
  `or craft the examples on a TF.js model and transfer them (attack --surrogate)`;
const PROB_FLOOR = 1e-12;
let runtime: Runtime | undefined;

/**
 * onnxruntime-node's public `InferenceSession.run` is async, but only on the surface: it calls the
 * native session's synchronous `run` inside `setImmediate` (no worker thread, no overlap to gain).
 * The Classifier contract's `logits` is synchronous, so this adapter calls that same native
 * session directly (`onnxruntime-node/dist/binding.js`, the module the public API wraps). The
 * package is pinned, and a layout change fails loudly here, at load time.
 */
function loadRuntime(): Runtime {
  if (runtime) return runtime;
  const require = createRequire(import.meta.url);
  let ort: { Tensor: OrtTensorCtor; version?: string };
  let native: { binding: { InferenceSession: new () => NativeSession }; initOrt: () => void };
  try {
    ort = require('onnxruntime-node') as typeof ort;
    native = require('onnxruntime-node/dist/binding.js') as typeof native;
  } catch (e) {
    throw new UserError(`cannot load onnxruntime-node (${(e as Error).message.split('\n')[0]}): install it with 'ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node@1.30.0'`);
  }
  if (typeof native.initOrt !== 'function' || typeof native.binding?.InferenceSession !== 'function') {
    throw new Error('onnxruntime-node: its native session binding is not where advtrain expects it (tested with 1.30.0)');
  }
  native.initOrt();
  runtime = { Tensor: ort.Tensor, Session: native.binding.InferenceSession };
  return runtime;
}

function shapeOf(m: NativeValueMetadata): (number | string)[] {
  return m.shape.map((d, i) => (d >= 0 ? d : m.symbolicDimensions[i] || '?'));
}

const fmt = (s: (number | string)[]) => `[${s.join(', ')}]`;

/**
 * Loads an ONNX model (a PyTorch, Keras or scikit-learn export) as a query-only
 * {@link Classifier}, so score- and decision-based attacks (Square, HopSkipJump, GenAttack,
 * differential evolution) and transfer attacks can target it. `logits(x)` is synchronous and
 * takes advtrain's NHWC batches; with `layout: 'nchw'` they are transposed for the model.
 * A model with a fixed batch dimension (often 1 in PyTorch exports) is run in chunks of that size.
 * Gradients do not flow through it: white-box attacks need a TF.js model.
 *
 * @example
 * ```ts
 * const clf = await loadOnnxClassifier('resnet.onnx', {
 *   inputShape: [32, 32, 3], numClasses: 10, domain: { lower: 0, upper: 1 }, layout: 'nchw', output: 'logits',
 * });
 * const r = await new SquareAttack({ maxQueries: 1000 }).run(clf, x, y, { threat: parseThreat('linf:0.03'), seed: 0 });
 * clf.dispose();
 * ```
 */
export async function loadOnnxClassifier(path: string, opts: OnnxOptions): Promise<OnnxClassifier> {
  if (!existsSync(path) || !statSync(path).isFile()) throw new UserError(`ONNX model file not found: ${path}`);
  if (!opts.inputShape?.length || opts.inputShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new UserError(`inputShape must list positive integers, e.g. [28, 28, 1] (got ${JSON.stringify(opts.inputShape)})`);
  }
  if (!Number.isInteger(opts.numClasses) || opts.numClasses < 2) throw new UserError(`numClasses must be an integer ≥ 2 (got ${opts.numClasses})`);
  const layout = opts.layout ?? 'nhwc';
  if (opts.output !== undefined && opts.output !== 'logits' && opts.output !== 'probabilities') {
    throw new UserError(`output must be 'logits' or 'probabilities' (got '${String(opts.output)}')`);
  }
  if (layout !== 'nhwc' && layout !== 'nchw') throw new UserError(`layout must be 'nhwc' or 'nchw' (got '${String(layout)}')`);
  const rt = loadRuntime();
  const session = new rt.Session();
  try {
    const sessionOptions: Record<string, unknown> = {};
    if (opts.threads !== undefined) sessionOptions.intraOpNumThreads = opts.threads;
    session.loadModel(path, sessionOptions);
  } catch (e) {
    throw new UserError(`cannot read ONNX model ${path}: ${(e as Error).message.split('\n')[0]}`);
  }
  const fail = (msg: string): never => {
    session.dispose();
    throw new UserError(msg);
  };
  const inputs = session.inputMetadata;
  const outputs = session.outputMetadata;
  const input = opts.inputName ? inputs.find((m) => m.name === opts.inputName) : inputs[0];
  if (!input) fail(`ONNX model ${path} has no input '${opts.inputName}': its inputs are ${inputs.map((m) => m.name).join(', ')}`);
  const output = opts.outputName ? outputs.find((m) => m.name === opts.outputName) : outputs[0];
  if (!output) fail(`ONNX model ${path} has no output '${opts.outputName}': its outputs are ${outputs.map((m) => m.name).join(', ')}`);
  if (input!.type !== ORT_FLOAT || output!.type !== ORT_FLOAT) fail(`ONNX model ${path}: input '${input!.name}' and output '${output!.name}' must be float32 tensors`);

  const nchw = layout === 'nchw' && opts.inputShape.length === 3;
  const [h, w, c] = opts.inputShape;
  const fedShape = nchw ? [c!, h!, w!] : opts.inputShape.slice();
  const declared = shapeOf(input!);
  const matches = declared.length === fedShape.length + 1 && declared.slice(1).every((d, i) => typeof d === 'string' || d === fedShape[i]);
  if (!matches) {
    fail(
      `ONNX model ${path} expects input '${input!.name}' of shape ${fmt(declared)} but inputShape ${fmt(opts.inputShape)} ` +
        `with layout '${layout}' feeds ${fmt(['N', ...fedShape])}: fix inputShape or layout ('nchw' for PyTorch exports)`,
    );
  }
  const outDeclared = shapeOf(output!);
  const outClasses = outDeclared[outDeclared.length - 1];
  if (typeof outClasses === 'number' && outClasses !== opts.numClasses) {
    fail(`ONNX model ${path} outputs ${outClasses} classes ('${output!.name}' ${fmt(outDeclared)}) but numClasses is ${opts.numClasses}`);
  }
  const fixedBatch = typeof declared[0] === 'number' && declared[0] > 0 ? declared[0] : 0;
  const per = fedShape.reduce((a, b) => a * b, 1);
  const inName = input!.name;
  const outName = output!.name;
  const probabilities = (opts.output ?? 'logits') === 'probabilities';
  let disposed = false;

  const runRows = (data: Float32Array, b: number): Float32Array => {
    const res = session.run({ [inName]: new rt.Tensor('float32', data, [b, ...fedShape]) }, { [outName]: null }, {});
    const out = res[outName]!;
    const got = out.data as Float32Array;
    if (got.length !== b * opts.numClasses) {
      throw new UserError(`ONNX model output '${outName}' has shape ${fmt([...out.dims])} for a batch of ${b}; expected [${b}, ${opts.numClasses}]`);
    }
    return got;
  };

  const forward = (x: tf.Tensor): tf.Tensor => {
    if (disposed) throw new Error('this ONNX classifier was disposed');
    // Inside tf.grad the output would be cut off from x, and tfjs would only say "Cannot compute gradient".
    if (tf.engine().isTapeOn()) throw new UserError(QUERY_ONLY(path));
    const b = x.shape[0]!;
    const shaped = x.shape.length === opts.inputShape.length + 1 && x.shape.slice(1).every((d, i) => d === opts.inputShape[i]);
    if (!shaped) throw new UserError(`ONNX classifier expects a batch of shape [b, ${opts.inputShape.join(', ')}] (got [${x.shape.join(', ')}])`);
    const fed = nchw ? tf.transpose(x, [0, 3, 1, 2]) : x;
    const data = fed.dataSync() as Float32Array;
    if (fed !== x) fed.dispose();
    let logits: Float32Array;
    if (!fixedBatch || fixedBatch === b) {
      logits = Float32Array.from(runRows(data, b));
    } else {
      logits = new Float32Array(b * opts.numClasses);
      for (let s = 0; s < b; s += fixedBatch) {
        const n = Math.min(fixedBatch, b - s);
        const chunk = new Float32Array(fixedBatch * per);
        chunk.set(data.subarray(s * per, (s + n) * per));
        logits.set(runRows(chunk, fixedBatch).subarray(0, n * opts.numClasses), s * opts.numClasses);
      }
    }
    // Probabilities are adapted here, on the host, as fromFunction would (log p, floored at 1e-12).
    if (probabilities) for (let i = 0; i < logits.length; i++) logits[i] = Math.log(Math.max(logits[i]!, PROB_FLOOR));
    return tf.tensor2d(logits, [b, opts.numClasses]);
  };

  const clf = fromFunction(forward, { inputShape: opts.inputShape, numClasses: opts.numClasses, domain: opts.domain, output: 'logits' });
  return {
    ...clf,
    queryOnly: true,
    inputName: inName,
    outputName: outName,
    modelInputShape: declared,
    dispose: () => {
      if (!disposed) session.dispose();
      disposed = true;
    },
  };
}
