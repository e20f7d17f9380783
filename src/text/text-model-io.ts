import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../fsutil.js';
import { loadModel, locateModel } from '../model/io.js';
import { textClassifier, type LayersTextClassifier, type TextPreprocessing } from './text-classifier.js';
import { DEFAULT_TOKENIZER_SETTINGS, tokenizerFromSettings, type TokenizerSettings } from './tokenizer.js';
import { Vocabulary } from './vocabulary.js';

/** The file beside model.json that makes a saved model a text model. */
export const TEXT_JSON = 'text.json';
const FORMAT = 'advtrain/text@1';

/**
 * What `text.json` holds: everything between a raw text and the token-id model.
 *
 * @example
 * ```ts
 * const file: TextModelFile = { format: 'advtrain/text@1', tokenizer: { kind: 'default', version: 1 }, vocabulary: ['<pad>', '<unk>', 'free'], maxLength: 200, classNames: ['ham', 'spam'] };
 * ```
 */
export interface TextModelFile {
  format: typeof FORMAT;
  tokenizer: TokenizerSettings;
  /** Keys by id: vocabulary[0] '<pad>', vocabulary[1] '<unk>'. */
  vocabulary: string[];
  maxLength: number;
  classNames: string[];
}

/**
 * Writes `text.json` (tokenizer settings, vocabulary, length, class names) into a model folder,
 * atomically. With the model's own files, the folder then classifies raw text.
 *
 * @example
 * ```ts
 * const vocabulary = buildVocabulary(['Win cash now', 'Lunch at noon?'], defaultTokenizer(), { minCount: 1 });
 * const textClf = textClassifier(buildZooModel('text-bag', { inputShape: [100], numClasses: 2, vocabSize: vocabulary.size }),
 *   { tokenizer: defaultTokenizer(), vocabulary, maxLength: 100, classNames: ['ham', 'spam'] });
 * await saveModel('runs/text-bag', textClf.ids.model, { inputShape: [100], numClasses: 2, domain: { lower: 0, upper: vocabulary.size - 1 }, output: 'logits' });
 * saveTextPreprocessing('runs/text-bag', textClf);
 * ```
 */
export function saveTextPreprocessing(dir: string, pre: TextPreprocessing): void {
  const file: TextModelFile = {
    format: FORMAT,
    tokenizer: DEFAULT_TOKENIZER_SETTINGS,
    vocabulary: pre.vocabulary.toJSON(),
    maxLength: pre.maxLength,
    classNames: [...pre.classNames],
  };
  writeFileAtomic(join(dir, TEXT_JSON), JSON.stringify(file));
}

/**
 * Whether a model path (folder or its model.json) names a text model (has `text.json`).
 *
 * @example
 * ```ts
 * if (isTextModel('runs/text-cnn')) clf = await loadTextClassifier('runs/text-cnn');
 * ```
 */
export function isTextModel(path: string): boolean {
  const loc = locateModel(path);
  return loc.format === 'tfjs' && existsSync(join(loc.dir, TEXT_JSON));
}

/** Reads and checks a text.json; one line naming the file and the field otherwise. */
export function readTextPreprocessing(dir: string): TextPreprocessing {
  const path = join(dir, TEXT_JSON);
  if (!existsSync(path)) throw new UserError(`${dir} is not a text model: it has no ${TEXT_JSON} (train one with advtrain train --dataset spam --model text-cnn)`);
  let raw: Partial<TextModelFile>;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as Partial<TextModelFile>;
  } catch (e) {
    throw new UserError(`${path} is not valid JSON (${(e as Error).message}); re-save the model`);
  }
  const bad = (field: string, want: string): never => {
    throw new UserError(`${path}: field ${field} must be ${want}; re-save the model with advtrain train`);
  };
  if (raw.format !== FORMAT) bad('format', `'${FORMAT}'`);
  if (!Array.isArray(raw.vocabulary) || raw.vocabulary.length < 2 || raw.vocabulary[0] !== '<pad>' || raw.vocabulary[1] !== '<unk>' || raw.vocabulary.some((w) => typeof w !== 'string')) {
    bad('vocabulary', "an array of strings starting with '<pad>', '<unk>'");
  }
  if (!Number.isInteger(raw.maxLength) || raw.maxLength! < 1) bad('maxLength', 'a positive integer');
  if (!Array.isArray(raw.classNames) || raw.classNames.length < 2) bad('classNames', 'an array of at least 2 names');
  let tokenizer;
  try {
    tokenizer = tokenizerFromSettings(raw.tokenizer);
  } catch {
    bad('tokenizer', `${JSON.stringify(DEFAULT_TOKENIZER_SETTINGS)} (this version knows no other)`);
  }
  return { tokenizer: tokenizer!, vocabulary: new Vocabulary(raw.vocabulary!), maxLength: raw.maxLength!, classNames: raw.classNames! };
}

/**
 * Loads a model folder saved by `advtrain train` on a text data set as a {@link TextClassifier}:
 * its layers model plus the tokenizer, vocabulary and length from `text.json`.
 *
 * @example
 * ```ts
 * const clf = await loadTextClassifier('runs/text-cnn');
 * const logits = clf.logitsOfTexts(['Subject: cheap meds\n\nBuy now at www.meds.biz']);
 * ```
 */
export async function loadTextClassifier(path: string): Promise<LayersTextClassifier> {
  const loc = locateModel(path);
  if (loc.format !== 'tfjs') throw new UserError(`${path} is an ONNX model: text models are TF.js folders with ${TEXT_JSON}`);
  const pre = readTextPreprocessing(loc.dir);
  const loaded = await loadModel(path);
  if (!loaded.layers) throw new UserError(`${path} is not a layers model: a text model is a TF.js layers model whose first layer is an Embedding`);
  try {
    return textClassifier(loaded.layers.model, pre);
  } catch (e) {
    loaded.layers.model.dispose();
    throw new UserError(`${path}: ${(e as Error).message}; the model and ${TEXT_JSON} do not belong together`);
  }
}
