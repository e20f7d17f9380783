import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { fromLayersModel, type LayersClassifier } from '../model/classifier.js';
import { tokenIdDomain } from '../data/text-dataset.js';
import type { Tokenizer } from './tokenizer.js';
import type { Vocabulary } from './vocabulary.js';

/**
 * A classifier of raw texts: the tokenizer, the vocabulary and the token-id model together.
 * Attacks read and edit texts, query {@link logitsOfTexts}, and gradient attacks work through
 * {@link embeddingMatrix} and {@link logitsFromEmbeddings}; training uses {@link ids}.
 *
 * @example
 * ```ts
 * const textClf: TextClassifier = await loadTextClassifier('runs/text-cnn');
 * const logits = textClf.logitsOfTexts(['Win a FREE prize now!', 'Meeting moved to 3pm']);
 * tf.argMax(logits, 1).print(); // [1, 0] (spam, ham)
 * logits.dispose();
 * ```
 */
export interface TextClassifier {
  readonly numClasses: number;
  readonly classNames: readonly string[];
  readonly tokenizer: Tokenizer;
  /** Max tokens the model reads (longer texts are truncated). */
  readonly maxLength: number;
  /** Token ids [b, maxLength] int32 (0 = padding, 1 = unknown). Caller disposes. */
  encode(texts: readonly string[]): tf.Tensor2D;
  /** Logits for raw texts [b, numClasses], batched internally. Caller disposes. */
  logitsOfTexts(texts: readonly string[]): tf.Tensor2D;
  /** The token-id model: what training and gradient attacks use. */
  readonly ids: LayersClassifier; // its inputShape is [maxLength]
  /** The embedding matrix [vocabSize, dim] (a view; do not dispose). */
  embeddingMatrix(): tf.Tensor2D;
  /** Differentiable logits from embedded tokens [b, maxLength, dim]. */
  logitsFromEmbeddings(e: tf.Tensor3D): tf.Tensor2D;
  /** Vocabulary lookups (lower-cased words; unknown → 1). */
  idOf(word: string): number;
  wordOf(id: number): string;
}

/**
 * What turns a token-id model into a {@link TextClassifier}.
 *
 * @example
 * ```ts
 * const vocabulary = buildVocabulary(['free money', 'free offer'], defaultTokenizer(), { minCount: 1 });
 * const parts: TextPreprocessing = { tokenizer: defaultTokenizer(), vocabulary, maxLength: 200, classNames: ['ham', 'spam'] };
 * ```
 */
export interface TextPreprocessing {
  tokenizer: Tokenizer;
  vocabulary: Vocabulary;
  maxLength: number;
  classNames: readonly string[];
}

/** Texts per forward pass of {@link TextClassifier.logitsOfTexts}. */
const BATCH = 256;

/**
 * A {@link TextClassifier} over a tfjs layers model whose first layer is an Embedding (the
 * layers after it must form a chain). It also exposes its {@link Vocabulary}.
 *
 * @example
 * ```ts
 * const textClf: LayersTextClassifier = await loadTextClassifier('runs/text-cnn');
 * console.log(textClf.vocabulary.size, textClf.wordOf(2));
 * ```
 */
export class LayersTextClassifier implements TextClassifier {
  readonly numClasses: number;
  readonly classNames: readonly string[];
  readonly tokenizer: Tokenizer;
  readonly vocabulary: Vocabulary;
  readonly maxLength: number;
  readonly ids: LayersClassifier;
  private readonly embedding: tfl.layers.Layer;
  private readonly after: tfl.layers.Layer[];

  constructor(model: tfl.LayersModel, pre: TextPreprocessing) {
    const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
    const first = layers[0];
    if (!first || first.getClassName() !== 'Embedding') {
      throw new Error(`a text model's first layer must be an Embedding (got ${first?.getClassName() ?? 'none'})`);
    }
    const inputShape = (model.inputs[0]!.shape as (number | null)[]).slice(1);
    if (inputShape.length !== 1 || (inputShape[0] !== null && inputShape[0] !== pre.maxLength)) {
      throw new Error(`the text model reads [${inputShape}] token ids but maxLength is ${pre.maxLength}`);
    }
    const inputDim = (first.getConfig() as { inputDim?: number }).inputDim;
    if (inputDim !== undefined && inputDim < pre.vocabulary.size) {
      throw new Error(`the model's embedding has ${inputDim} rows but the vocabulary ${pre.vocabulary.size} words`);
    }
    this.embedding = first;
    this.after = layers.slice(1);
    this.tokenizer = pre.tokenizer;
    this.vocabulary = pre.vocabulary;
    this.maxLength = pre.maxLength;
    this.classNames = [...pre.classNames];
    this.ids = fromLayersModel(model, { domain: tokenIdDomain(inputDim ?? pre.vocabulary.size, pre.maxLength) });
    this.numClasses = this.ids.numClasses;
    if (this.classNames.length !== this.numClasses) {
      throw new Error(`the model outputs ${this.numClasses} classes but ${this.classNames.length} class names were given`);
    }
  }

  encode(texts: readonly string[]): tf.Tensor2D {
    const out = new Int32Array(texts.length * this.maxLength);
    texts.forEach((t, i) => this.vocabulary.encodeInto(this.tokenizer, t, this.maxLength, out, i * this.maxLength));
    return tf.tensor2d(out, [texts.length, this.maxLength], 'int32');
  }

  logitsOfTexts(texts: readonly string[]): tf.Tensor2D {
    if (texts.length === 0) return tf.zeros([0, this.numClasses]);
    const parts: tf.Tensor2D[] = [];
    for (let i = 0; i < texts.length; i += BATCH) {
      parts.push(
        tf.tidy(() => {
          const ids = this.encode(texts.slice(i, i + BATCH));
          return this.ids.logits(ids);
        }),
      );
    }
    if (parts.length === 1) return parts[0]!;
    const all = tf.concat(parts, 0);
    tf.dispose(parts);
    return all;
  }

  embeddingMatrix(): tf.Tensor2D {
    return this.embedding.getWeights()[0] as tf.Tensor2D;
  }

  logitsFromEmbeddings(e: tf.Tensor3D): tf.Tensor2D {
    return tf.tidy(() => {
      let h: tf.Tensor = e;
      for (const layer of this.after) h = layer.apply(h, { training: false }) as tf.Tensor;
      return h as tf.Tensor2D;
    });
  }

  idOf(word: string): number {
    return this.vocabulary.idOf(word);
  }

  wordOf(id: number): string {
    return this.vocabulary.wordOf(id);
  }
}

/**
 * Wraps a token-id layers model (first layer an Embedding, sequential after it) with its
 * tokenizer, vocabulary and length as a {@link TextClassifier}.
 *
 * @example
 * ```ts
 * const vocab = buildVocabulary(['Win cash now', 'Lunch at noon?'], defaultTokenizer(), { minCount: 1 });
 * const model = buildZooModel('text-cnn', { inputShape: [200], numClasses: 2, vocabSize: vocab.size, seed: 0 });
 * const clf = textClassifier(model, { tokenizer: defaultTokenizer(), vocabulary: vocab, maxLength: 200, classNames: ['ham', 'spam'] });
 * ```
 */
export function textClassifier(model: tfl.LayersModel, pre: TextPreprocessing): LayersTextClassifier {
  return new LayersTextClassifier(model, pre);
}
