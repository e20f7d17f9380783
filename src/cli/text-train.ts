import { Option } from 'commander';
import { loadTextDataset, type LoadOptions } from '../data/index.js';
import type { DataSplits } from '../data/dataset.js';
import { textToIdsDataset } from '../data/text-dataset.js';
import { SPAM_SPLITS, type SpamSplit } from '../data/spam.js';
import { TOKEN_ZOO_NAMES, type ZooName } from '../model/zoo.js';
import { defaultTokenizer } from '../text/tokenizer.js';
import { buildVocabulary } from '../text/vocabulary.js';
import type { TextPreprocessing } from '../text/text-classifier.js';
import { UserError } from '../errors.js';
import { positiveInt } from './options.js';

/** Options of `advtrain train` that only text data sets read. */
export interface TextTrainOptions {
  textColumn?: string;
  labelColumn?: string;
  split?: string;
  /** Tokens a model reads (default {@link DEFAULT_MAX_LENGTH}). */
  maxLength?: number;
  /** Vocabulary size, padding and unknown included (default 20000). */
  vocabSize?: number;
  /** Tokens seen fewer times in the training split are unknown (default 2). */
  minCount?: number;
}

export const DEFAULT_MAX_LENGTH = 300;

/** Training methods that run on token ids. Text adversarial methods add their names here. */
export const TEXT_METHODS: string[] = ['standard'];

/** The `train` options of text data sets. */
export function textTrainOptions(): Option[] {
  return [
    new Option('--text-column <name>', "csv:FILE texts: the column holding the text (default 'text')"),
    new Option('--label-column <name>', "csv:FILE data: the column holding the label (texts: default 'label'; tables: the one column the schema does not describe)"),
    new Option('--split <kind>', 'spam: stratified (seeded by --seed) or collection (the -1 groups train, the -2 groups test)').choices(SPAM_SPLITS),
    new Option('--max-length <n>', `text models: tokens read per text (default ${DEFAULT_MAX_LENGTH})`).argParser(positiveInt),
    new Option('--vocab-size <n>', 'text models: vocabulary size, built on the training split (default 20000)').argParser(positiveInt),
    new Option('--min-count <n>', 'text models: a token needs this many occurrences in the training split (default 2)').argParser(positiveInt),
  ];
}

/** Refuses, before any loading, a text data set with an image model or a method without text support. */
export function checkTextTrainInputs(o: { dataset: string; model: string; method: string }): void {
  if (!TOKEN_ZOO_NAMES.includes(o.model as ZooName)) {
    throw new UserError(`${o.dataset} is a text data set: train a token model (--model ${TOKEN_ZOO_NAMES.join(' or --model ')}), not ${o.model}`);
  }
  if (!TEXT_METHODS.includes(o.method)) {
    throw new UserError(`--method ${o.method} does not train text models; text data trains with --method ${TEXT_METHODS.join(', ')}`);
  }
}

/** Text options given with a data set that is not text: refused so they are not silently ignored. */
export function checkNoTextOptions(o: TextTrainOptions & { dataset: string }): void {
  const given = (['split', 'maxLength', 'vocabSize', 'minCount', 'textColumn'] as const).filter((k) => o[k] !== undefined);
  if (given.length > 0) {
    const flag = given[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    throw new UserError(`--${flag} applies to text data sets (spam, spam-collection, csv:FILE), not ${o.dataset}: drop it`);
  }
}

/**
 * Loads a text data set, builds the vocabulary on its training split only and returns the id
 * data sets the trainer reads, with the preprocessing to save beside the model.
 */
export async function prepareTextTraining(o: TextTrainOptions & { dataset: string; seed: number }): Promise<{ data: DataSplits; preprocessing: TextPreprocessing }> {
  const opts: LoadOptions = { seed: o.seed, textColumn: o.textColumn, labelColumn: o.labelColumn, split: o.split as SpamSplit | undefined };
  const texts = await loadTextDataset(o.dataset, opts);
  const tokenizer = defaultTokenizer();
  const vocabulary = buildVocabulary(texts.train.texts, tokenizer, { maxSize: o.vocabSize ?? 20000, minCount: o.minCount ?? 2 });
  const preprocessing: TextPreprocessing = { tokenizer, vocabulary, maxLength: o.maxLength ?? DEFAULT_MAX_LENGTH, classNames: texts.train.classNames };
  return { data: { train: textToIdsDataset(texts.train, preprocessing), test: textToIdsDataset(texts.test, preprocessing) }, preprocessing };
}
