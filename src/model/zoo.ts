import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import { deriveSeed } from '../data/rng.js';

/**
 * Names of the built-in architectures.
 *
 * @example
 * ```ts
 * const arch: ZooName = 'madry-cnn';
 * const model = buildZooModel(arch, { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
 * ```
 */
export type ZooName = 'mnist-small' | 'madry-cnn' | 'trades-smallcnn' | 'mlp' | 'text-cnn' | 'text-bag';

/**
 * What every zoo builder needs: the input shape (without batch) and the number of classes.
 *
 * @example
 * ```ts
 * const spec: ZooSpec = { inputShape: [28, 28, 1], numClasses: 10, seed: 0, init: 'torch' };
 * const model = buildZooModel('mnist-small', spec);
 * ```
 */
export interface ZooSpec {
  inputShape: number[];
  numClasses: number;
  /** Seed for the weight initialisers, so the same seed gives the same initial weights. */
  seed?: number;
  /** Token models: size of the vocabulary (token ids run 0 … vocabSize−1). Default 20000. */
  vocabSize?: number;
  /**
   * Initial weights of the conv and dense layers: 'glorot' (Keras's default: Glorot-uniform
   * kernels, zero biases) or 'torch' (PyTorch's default, which the published PyTorch recipes
   * start from: kernels and biases uniform in ±1/√fan-in). Default 'glorot'.
   */
  init?: ZooInit;
}

/** How a zoo model's conv and dense layers are initialised (see {@link ZooSpec.init}). */
export type ZooInit = 'glorot' | 'torch';
export const ZOO_INITS: readonly ZooInit[] = ['glorot', 'torch'];

const init = (seed: number | undefined, i: number) =>
  tfl.initializers.glorotUniform({ seed: seed === undefined ? undefined : deriveSeed(seed, 'init', i) });

function imageShape(spec: ZooSpec, name: string): number[] {
  if (spec.inputShape.length !== 3) {
    throw new UserError(
      `model ${name} needs image input [height, width, channels] (got [${spec.inputShape}]); use --model mlp for tabular data`,
    );
  }
  return spec.inputShape;
}

/** Wong, Rice & Kolter 2020: conv16 4×4 s2 → conv32 4×4 s2 → FC100 → FC10. */
function mnistSmall(spec: ZooSpec): tfl.Sequential {
  const s = spec.seed;
  return tfl.sequential({
    name: 'mnist-small',
    layers: [
      tfl.layers.conv2d({ inputShape: imageShape(spec, 'mnist-small'), filters: 16, kernelSize: 4, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: init(s, 1) }),
      tfl.layers.conv2d({ filters: 32, kernelSize: 4, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: init(s, 2) }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 100, activation: 'relu', kernelInitializer: init(s, 3) }),
      tfl.layers.dense({ units: spec.numClasses, kernelInitializer: init(s, 4) }),
    ],
  });
}

/** Madry et al. 2018: conv32 5×5 → pool → conv64 5×5 → pool → FC1024 → FC10. */
function madryCnn(spec: ZooSpec): tfl.Sequential {
  const s = spec.seed;
  return tfl.sequential({
    name: 'madry-cnn',
    layers: [
      tfl.layers.conv2d({ inputShape: imageShape(spec, 'madry-cnn'), filters: 32, kernelSize: 5, padding: 'same', activation: 'relu', kernelInitializer: init(s, 1) }),
      tfl.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
      tfl.layers.conv2d({ filters: 64, kernelSize: 5, padding: 'same', activation: 'relu', kernelInitializer: init(s, 2) }),
      tfl.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 1024, activation: 'relu', kernelInitializer: init(s, 3) }),
      tfl.layers.dense({ units: spec.numClasses, kernelInitializer: init(s, 4) }),
    ],
  });
}

/** Zhang et al. 2019 (TRADES) SmallCNN: conv32-conv32-pool-conv64-conv64-pool-FC200-FC200-FC10, 3×3 kernels. */
function tradesSmallCnn(spec: ZooSpec): tfl.Sequential {
  const s = spec.seed;
  const conv = (filters: number, i: number, inputShape?: number[]) =>
    tfl.layers.conv2d({ ...(inputShape ? { inputShape } : {}), filters, kernelSize: 3, activation: 'relu', kernelInitializer: init(s, i) });
  return tfl.sequential({
    name: 'trades-smallcnn',
    layers: [
      conv(32, 1, imageShape(spec, 'trades-smallcnn')),
      conv(32, 2),
      tfl.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
      conv(64, 3),
      conv(64, 4),
      tfl.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 200, activation: 'relu', kernelInitializer: init(s, 5) }),
      tfl.layers.dropout({ rate: 0.5, seed: s }),
      tfl.layers.dense({ units: 200, activation: 'relu', kernelInitializer: init(s, 6) }),
      tfl.layers.dense({ units: spec.numClasses, kernelInitializer: init(s, 7) }),
    ],
  });
}

/** A two-hidden-layer perceptron (256-256) for any input shape: images are flattened, tabular rows used as they are. */
function mlp(spec: ZooSpec): tfl.Sequential {
  const s = spec.seed;
  const layers: tfl.layers.Layer[] = [];
  if (spec.inputShape.length > 1) layers.push(tfl.layers.flatten({ inputShape: spec.inputShape }));
  const first = spec.inputShape.length > 1 ? {} : { inputShape: spec.inputShape };
  layers.push(tfl.layers.dense({ ...first, units: 256, activation: 'relu', kernelInitializer: init(s, 1) }));
  layers.push(tfl.layers.dense({ units: 256, activation: 'relu', kernelInitializer: init(s, 2) }));
  layers.push(tfl.layers.dense({ units: spec.numClasses, kernelInitializer: init(s, 3) }));
  return tfl.sequential({ name: 'mlp', layers });
}

/**
 * Kim-style text CNN over token ids: embedding vocab×64 → conv1d 128×5 → global max pool → dense.
 * Input shape [length] (token ids as int32 or float32).
 */
function textCnn(spec: ZooSpec): tfl.Sequential {
  const s = spec.seed;
  if (spec.inputShape.length !== 1) {
    throw new UserError(`model text-cnn needs token-id input [length] (got [${spec.inputShape}]); use an image model for image data`);
  }
  return tfl.sequential({
    name: 'text-cnn',
    layers: [
      tfl.layers.embedding({
        inputDim: spec.vocabSize ?? 20000,
        outputDim: 64,
        inputLength: spec.inputShape[0],
        embeddingsInitializer: tfl.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: s === undefined ? undefined : s * 1000 }),
      }),
      tfl.layers.conv1d({ filters: 128, kernelSize: 5, activation: 'relu', kernelInitializer: init(s, 1) }),
      tfl.layers.globalMaxPooling1d(),
      tfl.layers.dense({ units: spec.numClasses, kernelInitializer: init(s, 2) }),
    ],
  });
}

/**
 * fastText-like bag of embeddings (Joulin et al. 2017): embedding vocab×64 → mean over the
 * positions → dense. Padding is one learnt vector in the mean, which also tells the model the
 * text's length. Input shape [length].
 */
function textBag(spec: ZooSpec): tfl.Sequential {
  const s = spec.seed;
  if (spec.inputShape.length !== 1) {
    throw new UserError(`model text-bag needs token-id input [length] (got [${spec.inputShape}]); use an image model for image data`);
  }
  return tfl.sequential({
    name: 'text-bag',
    layers: [
      tfl.layers.embedding({
        inputDim: spec.vocabSize ?? 20000,
        outputDim: 64,
        inputLength: spec.inputShape[0],
        embeddingsInitializer: tfl.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: s === undefined ? undefined : deriveSeed(s, 'init', 0) }),
      }),
      tfl.layers.globalAveragePooling1d(),
      tfl.layers.dense({ units: spec.numClasses, kernelInitializer: init(s, 1) }),
    ],
  });
}

const BUILDERS: Record<ZooName, (spec: ZooSpec) => tfl.Sequential> = {
  'mnist-small': mnistSmall,
  'madry-cnn': madryCnn,
  'trades-smallcnn': tradesSmallCnn,
  mlp,
  'text-cnn': textCnn,
  'text-bag': textBag,
};

/**
 * All zoo names, in a stable order.
 *
 * @example
 * ```ts
 * for (const name of ZOO_NAMES) console.log(name); // mnist-small, madry-cnn, trades-smallcnn, mlp, text-cnn, text-bag
 * ```
 */
export const ZOO_NAMES = Object.keys(BUILDERS) as ZooName[];

/** Zoo models that read token ids ([length]) rather than images or feature rows. */
export const TOKEN_ZOO_NAMES: readonly ZooName[] = ['text-cnn', 'text-bag'];

/**
 * Builds a fresh, untrained zoo model that outputs logits.
 *
 * @example
 * ```ts
 * const model = buildZooModel('mnist-small', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
 * ```
 */
export function buildZooModel(name: string, spec: ZooSpec): tfl.Sequential {
  const builder = (BUILDERS as Record<string, (spec: ZooSpec) => tfl.Sequential>)[name];
  if (!builder) throw new UserError(`unknown model '${name}': choose one of ${ZOO_NAMES.join(', ')}, or a directory holding model.json`);
  if (spec.init !== undefined && !ZOO_INITS.includes(spec.init)) throw new UserError(`unknown init '${spec.init}': choose one of ${ZOO_INITS.join(', ')}`);
  const model = builder(spec);
  if (spec.init === 'torch') torchInit(model, spec.seed);
  return model;
}

/** PyTorch's default initialisation of Conv and Linear layers: kernel and bias uniform in ±1/√fan-in. */
function torchInit(model: tfl.Sequential, seed: number | undefined): void {
  model.layers.forEach((layer, i) => {
    const [kernel, bias] = layer.getWeights();
    if (!kernel || kernel.shape.length < 2 || layer.getClassName() === 'Embedding') return;
    const fanIn = tf.util.sizeFromShape(kernel.shape.slice(0, -1));
    const bound = 1 / Math.sqrt(fanIn);
    const fresh = [kernel, ...(bias ? [bias] : [])].map((w, j) =>
      tf.randomUniform(w.shape, -bound, bound, 'float32', seed === undefined ? undefined : deriveSeed(seed, 'init-torch', i, j)),
    );
    layer.setWeights(fresh);
    tf.dispose(fresh);
  });
}
