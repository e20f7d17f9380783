import { Command, Option } from 'commander';
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.js';
import { checkOutputPaths, writeFileAtomic } from '../fsutil.js';
import { checkModelPath, loadModel, locateModel } from '../model/io.js';
import { isTextModel, loadTextClassifier, readTextPreprocessing } from '../text/text-model-io.js';
import { pickReader, type PredictInput } from './predict-inputs.js';
import { engineOptions } from './options.js';
import { log, startEngine } from './common.js';

/** Options of `advtrain predict`. */
export interface PredictOptions {
  model: string;
  input: string;
  /** JSONL: the field holding the text. */
  field?: string;
  /** CSV: the column holding the text. */
  textColumn?: string;
  format: 'jsonl' | 'table';
  /** Write here instead of stdout. */
  out?: string;
  backend: string;
  threads?: number;
}

/**
 * One prediction: the input's id (a JSONL record's "index"/"id", a line number, a file name or a
 * position), the predicted class index and name, and its softmax probability.
 */
export interface Prediction {
  index: string | number;
  predicted: number;
  class: string;
  probability: number;
}

/** What reads inputs: texts through the saved tokenizer and vocabulary, or feature arrays. */
interface Predictor {
  wants: 'text' | 'features';
  inputShape: number[];
  classNames: readonly string[];
  /** Logits [n, classes] of inputs the matching reader produced. */
  logits(inputs: PredictInput[]): tf.Tensor2D;
  dispose(): void;
}

const BATCH = 256;

async function loadPredictor(path: string): Promise<Predictor> {
  if (isTextModel(path)) {
    const clf = await loadTextClassifier(path);
    return {
      wants: 'text',
      inputShape: [clf.maxLength],
      classNames: clf.classNames,
      logits: (inputs) => clf.logitsOfTexts(inputs.map((i) => (i as { text: string }).text)),
      dispose: () => clf.ids.model.dispose(),
    };
  }
  const { classifier, layers, metadata } = await loadModel(path, undefined, { onNote: log });
  const shape = classifier.inputShape;
  const size = shape.reduce((a, b) => a * b, 1);
  return {
    wants: 'features',
    inputShape: shape,
    classNames: metadata?.classNames ?? Array.from({ length: classifier.numClasses }, (_, i) => String(i)),
    logits(inputs) {
      const parts: tf.Tensor2D[] = [];
      for (let i = 0; i < inputs.length; i += BATCH) {
        const chunk = inputs.slice(i, i + BATCH);
        const flat = new Float32Array(chunk.length * size);
        chunk.forEach((c, j) => flat.set((c as { x: Float32Array }).x, j * size));
        parts.push(tf.tidy(() => classifier.logits(tf.tensor(flat, [chunk.length, ...shape]))));
      }
      const all = tf.concat(parts, 0);
      tf.dispose(parts);
      return all;
    },
    dispose: () => layers?.model.dispose(),
  };
}

/**
 * Classifies raw inputs through a saved model's own preprocessing — independent of the attack
 * code, so anyone can re-check that an adversarial input fools the model. Text models (a folder
 * with text.json) read text lines, JSONL or CSV; tabular models (with tabular.json) read records in
 * their data set's own format (NSL-KDD lines, ARFF, CSV), checked against the saved schema;
 * image models read PNG files or IDX; further readers plug in with `registerInputReader`.
 *
 * @example
 * ```ts
 * const predictions = await runPredict({ model: 'runs/text-cnn', input: 'adv.jsonl', format: 'jsonl', backend: 'auto' });
 * ```
 */
export async function runPredict(o: PredictOptions): Promise<Prediction[]> {
  checkOutputPaths([o.out !== undefined && { flag: '--out', path: o.out, kind: 'file' }]);
  const loc = locateModel(o.model);
  if (loc.format === 'onnx') throw new UserError(`${o.model} is an ONNX model: predict reads TF.js model folders saved by advtrain (their metadata says how inputs are read)`);
  checkModelPath(o.model);
  const text = isTextModel(o.model);
  if (text) readTextPreprocessing(loc.dir); // a damaged text.json fails before the engine starts
  const reader = pickReader(o.input, text ? 'text' : 'features', loc.dir);
  if (o.field !== undefined && reader.name !== 'JSONL') throw new UserError(`--field applies to JSONL input, not ${reader.name}: drop it`);
  if (o.textColumn !== undefined && reader.name !== 'CSV') throw new UserError(`--text-column applies to CSV input, not ${reader.name}: drop it`);
  await startEngine(o, log);
  const predictor = await loadPredictor(o.model);
  try {
    const inputs = reader.read(o.input, { inputShape: predictor.inputShape, modelDir: loc.dir, field: o.field, textColumn: o.textColumn });
    if (inputs.length === 0) throw new UserError(`${o.input} holds no inputs`);
    const probs = tf.tidy(() => tf.softmax(predictor.logits(inputs)));
    const p = probs.arraySync() as number[][];
    probs.dispose();
    const predictions = p.map((row, i) => {
      let k = 0;
      for (let j = 1; j < row.length; j++) if (row[j]! > row[k]!) k = j;
      return { index: inputs[i]!.id, predicted: k, class: predictor.classNames[k] ?? String(k), probability: +row[k]!.toFixed(6) };
    });
    const body = o.format === 'table' ? table(predictions, inputs) : predictions.map((r) => JSON.stringify(r)).join('\n') + '\n';
    if (o.out !== undefined) writeFileAtomic(o.out, body);
    else process.stdout.write(body);
    const counts = predictor.classNames.map((c, k) => `${predictions.filter((r) => r.predicted === k).length} ${c}`).join(', ');
    log(`${predictions.length} inputs classified (${reader.name}): ${counts}${o.out ? `; written to ${o.out}` : ''}`);
    return predictions;
  } finally {
    predictor.dispose();
  }
}

function table(rows: Prediction[], inputs: PredictInput[]): string {
  const snippet = (i: PredictInput) => ('text' in i ? i.text.replace(/\s+/g, ' ').slice(0, 60) : '');
  const lines = [['index', 'class', 'probability', 'input'], ...rows.map((r, i) => [String(r.index), r.class, r.probability.toFixed(4), snippet(inputs[i]!)])];
  const widths = lines[0]!.map((_, c) => Math.max(...lines.map((l) => l[c]!.length)));
  return lines.map((l) => l.map((v, c) => (c === l.length - 1 ? v : v.padEnd(widths[c]!))).join('  ').trimEnd()).join('\n') + '\n';
}

/** The `predict` command. */
export function predictCommand(): Command {
  const cmd = new Command('predict')
    .description("classify raw inputs through a saved model's own preprocessing (text lines, JSONL or CSV for text models; records in the data set's format for tabular models; PNG or IDX for image models)")
    .requiredOption('--model <dir>', 'model directory saved by advtrain train (text models hold text.json)')
    .requiredOption('--input <file>', 'text lines (.txt), JSONL (.jsonl: a "text" or "adversarial" field), CSV with a header (.csv: a "text" column), PNG file or folder, or IDX file; tabular models: NSL-KDD lines, .arff or .csv records (what attack --save-examples writes)')
    .option('--field <name>', 'JSONL: the field holding the text (default: text, adversarial, message or original, the first present)')
    .option('--text-column <name>', "CSV: the column holding the text (default 'text'; an 'index' or 'id' column names the rows, otherwise their line numbers)")
    .addOption(new Option('--format <kind>', 'output').choices(['jsonl', 'table']).default('jsonl'))
    .option('--out <file>', 'write the predictions here instead of stdout');
  for (const opt of engineOptions()) cmd.addOption(opt);
  return cmd.action(async (o: PredictOptions) => {
    await runPredict(o);
  });
}
