import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tfc from '@tensorflow/tfjs-converter';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { writeFileAtomic, withNewDir } from '../fsutil.js';
import type { Domain } from '../data/domain.js';
import { fromGraphModel, fromLayersModel, type Classifier, type LayersClassifier, type ModelOutput } from './classifier.js';

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';

/** What advtrain stores beside a model (in model.json's `userDefinedMetadata.advtrain`). */
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
}

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
      const json = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        trainingConfig: artifacts.trainingConfig,
        weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
        userDefinedMetadata: metadata ? { ...(artifacts.userDefinedMetadata ?? {}), advtrain: metadata } : artifacts.userDefinedMetadata,
      };
      await withNewDir(dir, async (d) => {
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

function readModelDir(dir: string): { json: RawModelJson; weightSpecs: tf.io.WeightsManifestEntry[]; weightData: ArrayBuffer } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UserError(`model directory not found: ${dir} (pass a directory written by 'advtrain train' or a TF.js model directory)`);
  }
  const jsonPath = join(dir, MODEL_JSON);
  if (!existsSync(jsonPath)) {
    throw new UserError(`${dir} has no ${MODEL_JSON}: pass a directory written by 'advtrain train' or a TF.js model directory`);
  }
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

/** A loaded model and the metadata that came with it. */
export interface LoadedModel {
  classifier: Classifier;
  /** Present when the directory holds a trainable layers model. */
  layers?: LayersClassifier;
  metadata?: ModelMetadata;
}

/**
 * Loads a model directory: a layers model (trainable) or a graph model, as a Classifier.
 * Models saved by other tools need `fallback` for what advtrain's metadata would say.
 *
 * @example
 * ```ts
 * const { classifier } = await loadModel('runs/m');
 * ```
 */
export async function loadModel(dir: string, fallback?: Partial<ModelMetadata>): Promise<LoadedModel> {
  const { json } = readModelDir(dir);
  const stored = json.userDefinedMetadata?.advtrain;
  const meta = { ...fallback, ...stored } as Partial<ModelMetadata>;
  const domain = domainFromMeta(meta.domain ?? { lower: 0, upper: 1 });
  const output = meta.output ?? 'logits';
  if (json.format === 'graph-model') {
    if (!meta.inputShape || !meta.numClasses) {
      throw new UserError(`${dir} is a graph model without advtrain metadata: give its input shape and number of classes`);
    }
    const graph = await tfc.loadGraphModel(fileHandler(dir));
    const classifier = fromGraphModel(graph, { domain, output, inputShape: meta.inputShape, numClasses: meta.numClasses });
    return { classifier, metadata: stored };
  }
  let model: tfl.LayersModel;
  try {
    model = await tfl.loadLayersModel(fileHandler(dir));
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`cannot build the model in ${dir}: ${(e as Error).message.split('\n')[0]}`);
  }
  const layers = fromLayersModel(model, { domain, output });
  return { classifier: layers, layers, metadata: stored };
}
