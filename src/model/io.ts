import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tfc from '@tensorflow/tfjs-converter';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.js';
import { writeFileAtomic, withNewDir } from '../fsutil.js';
import type { Domain } from '../data/domain.js';
import { TabularEncoding } from '../tabular/encoding.js';
import { fromGraphModel, fromLayersModel, type Classifier, type LayersClassifier, type ModelOutput } from './classifier.js';

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';

/**
 * What advtrain stores beside a model (in model.json's `userDefinedMetadata.advtrain`).
 *
 * @example
 * ```ts
 * const metadata: ModelMetadata = { inputShape: [28, 28, 1], numClasses: 10, domain: { lower: 0, upper: 1 }, output: 'logits', dataset: 'mnist' };
 * await saveModel('runs/m', model, metadata);
 * ```
 */
export interface ModelMetadata {
  inputShape: number[];
  numClasses: number;
  domain: { lower: number | number[]; upper: number | number[] };
  output: ModelOutput;
  classNames?: string[];
  /** Zoo architecture name, when built from the zoo. */
  architecture?: string;
  /** Data set it was trained on. */
  dataset?: string;
  /**
   * Files written beside model.json, name → text (not stored in model.json): `tabular.json`
   * holds a tabular model's schema and encoding, from which {@link loadModel} rebuilds its Domain.
   */
  files?: Record<string, string>;
}

/** The file beside model.json that makes a model tabular (its schema and encoding). */
export const TABULAR_JSON = 'tabular.json';

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, complex64: 8 };

function specBytes(specs: tf.io.WeightsManifestEntry[]): number {
  let total = 0;
  for (const s of specs) {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const dtype = s.quantization?.dtype ?? s.dtype;
    total += size * (BYTES[dtype] ?? 4);
  }
  return total;
}

/**
 * A tfjs IOHandler for a directory on disk (tfjs without tfjs-node has no `file://` handler).
 * Saving writes `weights.bin` then `model.json`, each atomically; loading checks that the weights
 * file has exactly the size model.json describes.
 *
 * @example
 * ```ts
 * await model.save(fileHandler('runs/m'));
 * const again = await tfl.loadLayersModel(fileHandler('runs/m'));
 * ```
 */
export function fileHandler(dir: string, metadata?: ModelMetadata): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      const weights = artifacts.weightData ? tf.io.CompositeArrayBuffer.join(artifacts.weightData) : new ArrayBuffer(0);
      const { files, ...meta } = metadata ?? ({} as Partial<ModelMetadata>);
      const json = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        trainingConfig: artifacts.trainingConfig,
        weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
        userDefinedMetadata: metadata ? { ...(artifacts.userDefinedMetadata ?? {}), advtrain: meta } : artifacts.userDefinedMetadata,
      };
      await withNewDir(dir, async (d) => {
        for (const [name, text] of Object.entries(files ?? {})) writeFileAtomic(join(d, name), text);
        writeFileAtomic(join(d, WEIGHTS_BIN), new Uint8Array(weights));
        writeFileAtomic(join(d, MODEL_JSON), JSON.stringify(json));
      });
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      const { json, weightSpecs, weightData } = readModelDir(dir);
      return {
        modelTopology: json.modelTopology as {},
        format: json.format as string | undefined,
        generatedBy: json.generatedBy as string | undefined,
        convertedBy: json.convertedBy as string | null | undefined,
        trainingConfig: json.trainingConfig as tf.io.TrainingConfig | undefined,
        userDefinedMetadata: json.userDefinedMetadata as {} | undefined,
        weightSpecs,
        weightData,
      };
    },
  };
}

interface RawModelJson {
  modelTopology?: unknown;
  format?: unknown;
  generatedBy?: unknown;
  convertedBy?: unknown;
  trainingConfig?: unknown;
  userDefinedMetadata?: { advtrain?: ModelMetadata } & Record<string, unknown>;
  weightsManifest?: tf.io.WeightsManifestConfig;
}

/** Where a model lives on disk, as {@link locateModel} found it. */
export type ModelLocation =
  /** A TF.js model: `file` is its model.json (or another .json name), `dir` holds the weights. */
  | { format: 'tfjs'; dir: string; file: string }
  /** An ONNX file (query-only). */
  | { format: 'onnx'; file: string };

const MODEL_FORMS = "a model folder written by 'advtrain train', a TF.js model folder or its model.json, or an .onnx file";

/**
 * Finds the model a path names: a folder holding model.json, a model.json (any .json) file
 * itself, or an .onnx file. Throws one {@link UserError} line that says what is expected otherwise.
 *
 * @example
 * ```ts
 * locateModel('runs/m');            // { format: 'tfjs', dir: 'runs/m', file: 'runs/m/model.json' }
 * locateModel('runs/m/model.json'); // the same
 * locateModel('net.onnx');          // { format: 'onnx', file: 'net.onnx' }
 * ```
 */
export function locateModel(path: string): ModelLocation {
  if (!existsSync(path)) throw new UserError(`model not found: ${path} (pass ${MODEL_FORMS})`);
  if (statSync(path).isDirectory()) {
    const file = join(path, MODEL_JSON);
    if (!existsSync(file)) {
      const onnx = readdirSync(path).filter((f) => f.endsWith('.onnx'));
      const hint = onnx.length ? ` (it holds ${join(path, onnx[0]!)}: pass that file)` : '';
      throw new UserError(`${path} has no ${MODEL_JSON}${hint}: pass ${MODEL_FORMS}`);
    }
    return { format: 'tfjs', dir: path, file };
  }
  const lower = path.toLowerCase();
  if (lower.endsWith('.onnx')) return { format: 'onnx', file: path };
  if (lower.endsWith('.json')) return { format: 'tfjs', dir: dirname(path), file: path };
  throw new UserError(`${path} is a file but neither a model.json nor an .onnx file: pass ${MODEL_FORMS}`);
}

/** A TF.js model location, or one line saying why an ONNX file cannot be used here. */
function tfjsLocation(path: string, onnxHint?: string): { dir: string; file: string } {
  const loc = locateModel(path);
  if (loc.format === 'onnx') {
    throw new UserError(`${path} is an ONNX model, which advtrain can only query (no gradients): ${onnxHint ?? 'here a TF.js model is needed (a folder with model.json, or the model.json)'}`);
  }
  return loc;
}

function readModelDir(path: string): { json: RawModelJson; weightSpecs: tf.io.WeightsManifestEntry[]; weightData: ArrayBuffer } {
  const { dir, file: jsonPath } = tfjsLocation(path);
  let json: RawModelJson;
  try {
    json = JSON.parse(readFileSync(jsonPath, 'utf8')) as RawModelJson;
  } catch (e) {
    throw new UserError(`${jsonPath} is not valid JSON (${(e as Error).message}); re-save the model`);
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new UserError(`${jsonPath} lacks modelTopology or weightsManifest: it is not a TF.js model file`);
  }
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const parts: Uint8Array[] = [];
  for (const group of json.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) {
      const wp = join(dir, p);
      if (!existsSync(wp)) throw new UserError(`weights file missing: ${wp} (named in ${jsonPath}); copy it beside model.json`);
      parts.push(readFileSync(wp));
    }
  }
  const total = parts.reduce((a, b) => a + b.byteLength, 0);
  const expected = specBytes(weightSpecs);
  if (total !== expected) {
    throw new UserError(
      `weights in ${dir} have ${total} bytes but ${MODEL_JSON} describes ${expected}: the files do not belong together or one was cut short`,
    );
  }
  const weightData = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    weightData.set(p, off);
    off += p.byteLength;
  }
  return { json, weightSpecs, weightData: weightData.buffer };
}

/**
 * The tabular encoding saved beside a model (`tabular.json` in its folder), if there is one; a
 * damaged file is refused in one line.
 *
 * @example
 * ```ts
 * const enc = readTabularJson('runs/nsl-kdd-mlp'); // undefined for image and text models
 * ```
 */
export function readTabularJson(dir: string): TabularEncoding | undefined {
  const path = join(dir, TABULAR_JSON);
  if (!existsSync(path)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UserError(`${path} is not valid JSON (${(e as Error).message}); re-save the model`);
  }
  return TabularEncoding.fromJSON(json, path);
}

function domainFromMeta(d: ModelMetadata['domain']): Domain {
  const conv = (v: number | number[]) => (typeof v === 'number' ? v : Float32Array.from(v));
  return { lower: conv(d.lower), upper: conv(d.upper) };
}

/** Converts a Domain into the JSON form stored in metadata. */
export function domainToMeta(d: Domain): ModelMetadata['domain'] {
  const conv = (v: number | Float32Array) => (typeof v === 'number' ? v : Array.from(v));
  return { lower: conv(d.lower), upper: conv(d.upper) };
}

/**
 * Saves a trained LayersModel with its advtrain metadata to a directory (created atomically).
 *
 * @example
 * ```ts
 * await saveModel('runs/m', clf.model, { inputShape: [28, 28, 1], numClasses: 10, domain: { lower: 0, upper: 1 }, output: 'logits' });
 * ```
 */
export async function saveModel(dir: string, model: tfl.LayersModel, metadata: ModelMetadata): Promise<void> {
  await model.save(fileHandler(dir, metadata));
}

/**
 * A loaded model and the metadata that came with it.
 *
 * @example
 * ```ts
 * const loaded: LoadedModel = await loadModel('runs/m');
 * for (const note of loaded.notes) console.log(note);
 * if (loaded.layers) await train(loaded.layers, data.train, data.test, config);
 * ```
 */
export interface LoadedModel {
  classifier: Classifier;
  /** Present when the directory holds a trainable layers model. */
  layers?: LayersClassifier;
  metadata?: ModelMetadata;
  /** Where the model was found (the folder holds metrics.jsonl for runs of 'advtrain train'). */
  location: { dir: string; file: string };
  /** What was adapted while loading (e.g. a softmax output read as probabilities), for the caller to tell the user once. */
  notes: string[];
  /** A tabular model's encoding (from tabular.json beside model.json); its Domain is the classifier's. */
  tabular?: TabularEncoding;
}

/**
 * Options of {@link loadModel}.
 *
 * @example
 * ```ts
 * const opts: LoadModelOptions = { onNote: (note) => console.error(note) };
 * const { classifier } = await loadModel('my-model', undefined, opts);
 * ```
 */
export interface LoadModelOptions {
  /** Said when the path is an ONNX file, e.g. which commands or attacks can use it. */
  onnxHint?: string;
  /** Called with each note as it is made (besides {@link LoadedModel.notes}). */
  onNote?: (note: string) => void;
}

const fmtShape = (s: readonly (number | null | string)[]) => `[${s.map((d) => (d === null || d === -1 ? '?' : d)).join(', ')}]`;

/** True when a layers model's output comes out of a softmax (a Softmax layer, or a layer with activation 'softmax'). */
export function endsInSoftmax(model: tfl.LayersModel): boolean {
  const layer = (model.outputs[0] as { sourceLayer?: tfl.layers.Layer }).sourceLayer ?? model.layers[model.layers.length - 1];
  if (!layer) return false;
  if (layer.getClassName() === 'Softmax') return true;
  const activation = (layer.getConfig() as { activation?: unknown }).activation;
  return activation === 'softmax';
}

/**
 * Checks a model path before any work starts: that it names a TF.js model whose model.json
 * reads, whose weights have the size it describes and whose metadata agrees with its topology.
 * Throws one {@link UserError} line otherwise. Returns the input shape, when the files say it.
 *
 * @example
 * ```ts
 * checkModelPath('runs/m/model.json');
 * ```
 */
export function checkModelPath(path: string, opts: LoadModelOptions = {}): { inputShape?: number[] } {
  const { file } = tfjsLocation(path, opts.onnxHint);
  const { json } = readModelDir(path);
  const meta = json.userDefinedMetadata?.advtrain;
  const declared = topologyInputShape(json.modelTopology);
  if (meta?.inputShape && declared && !shapesAgree(declared, meta.inputShape)) {
    throw new UserError(`the metadata in ${file} (userDefinedMetadata.advtrain) says inputShape ${fmtShape(meta.inputShape)} but the model takes ${fmtShape(declared)}: correct inputShape`);
  }
  const known = meta?.inputShape ?? (declared?.every((d) => d !== null) ? (declared as number[]) : undefined);
  return known ? { inputShape: known } : {};
}

/** Whether a model's declared input shape (unknown dimensions null or -1) admits `shape`. */
function shapesAgree(declared: readonly (number | null)[], shape: readonly number[]): boolean {
  return declared.length === shape.length && declared.every((d, i) => d === null || d === -1 || d === shape[i]);
}

/** The input shape (without batch) a layers model's topology declares on its first layer, if it does. */
function topologyInputShape(topology: unknown): (number | null)[] | undefined {
  const t = topology as { model_config?: unknown; config?: unknown } | undefined;
  const cfg = (t?.model_config ?? t) as { config?: { layers?: unknown } | unknown[] } | undefined;
  const layers = Array.isArray(cfg?.config) ? cfg.config : (cfg?.config as { layers?: unknown } | undefined)?.layers;
  if (!Array.isArray(layers)) return undefined;
  for (const l of layers as { config?: { batch_input_shape?: unknown; batchInputShape?: unknown } }[]) {
    const s = l?.config?.batch_input_shape ?? l?.config?.batchInputShape;
    if (Array.isArray(s)) return (s as (number | null)[]).slice(1);
  }
  return undefined;
}

/**
 * Loads a TF.js model — a folder holding model.json, or the model.json itself — as a Classifier:
 * a layers model (trainable) or a graph model. Models saved by other tools need `fallback` for
 * what advtrain's metadata would say. Without metadata saying what the model outputs, a layers
 * model that ends in a softmax is read as outputting probabilities (logits = log p), and
 * `notes` says so. Metadata whose input shape or class count contradicts the model is refused.
 *
 * @example
 * ```ts
 * const { classifier, notes } = await loadModel('runs/m');
 * ```
 */
export async function loadModel(path: string, fallback?: Partial<ModelMetadata>, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const location = tfjsLocation(path, opts.onnxHint);
  const { json } = readModelDir(path);
  const stored = json.userDefinedMetadata?.advtrain;
  const meta = { ...fallback, ...stored } as Partial<ModelMetadata>;
  const tabular = readTabularJson(location.dir);
  const domain = tabular ? tabular.domain() : domainFromMeta(meta.domain ?? { lower: 0, upper: 1 });
  const notes: string[] = [];
  const where = `${location.file} (userDefinedMetadata.advtrain)`;
  if (json.format === 'graph-model') {
    if (!meta.inputShape || !meta.numClasses) {
      throw new UserError(`${path} is a graph model without advtrain metadata: give its input shape and number of classes`);
    }
    const graph = await tfc.loadGraphModel(fileHandler(path));
    const declared = graph.inputs[0]?.shape;
    if (declared && !shapesAgree(declared.slice(1), meta.inputShape)) {
      throw new UserError(`the metadata in ${where} says inputShape ${fmtShape(meta.inputShape)} but the model takes ${fmtShape(declared.slice(1))}: correct inputShape`);
    }
    const classifier = fromGraphModel(graph, { domain, output: meta.output ?? 'logits', inputShape: meta.inputShape, numClasses: meta.numClasses });
    return { classifier, metadata: stored, location, notes, ...(tabular ? { tabular } : {}) };
  }
  let model: tfl.LayersModel;
  try {
    model = await tfl.loadLayersModel(fileHandler(path));
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`cannot build the model in ${path}: ${(e as Error).message.split('\n')[0]}`);
  }
  const fail = (msg: string): never => {
    model.dispose();
    throw new UserError(msg);
  };
  const modelShape = (model.inputs[0]!.shape as (number | null)[]).slice(1);
  if (meta.inputShape && !shapesAgree(modelShape, meta.inputShape)) {
    fail(`the metadata in ${where} says inputShape ${fmtShape(meta.inputShape)} but the model takes ${fmtShape(modelShape)}: correct inputShape`);
  }
  const outShape = model.outputs[0]!.shape as (number | null)[];
  const modelClasses = outShape[outShape.length - 1];
  if (meta.numClasses !== undefined && modelClasses !== null && meta.numClasses !== modelClasses) {
    fail(`the metadata in ${where} says numClasses ${meta.numClasses} but the model outputs ${modelClasses}: correct numClasses`);
  }
  const softmax = endsInSoftmax(model);
  let output = meta.output;
  if (output === undefined) {
    output = softmax ? 'probabilities' : 'logits';
    if (softmax) notes.push(`${path} ends in a softmax and no metadata says what it outputs: reading its outputs as probabilities (logits = log p)`);
  } else if (output === 'logits' && softmax) {
    fail(`the metadata in ${where} says output 'logits' but the model ends in a softmax: set output to 'probabilities'`);
  }
  for (const note of notes) opts.onNote?.(note);
  const layers = fromLayersModel(model, { domain, output });
  return { classifier: layers, layers, metadata: stored, location, notes, ...(tabular ? { tabular } : {}) };
}
