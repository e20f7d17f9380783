// TEMPORARY stand-in for textdata's src/text/tokenizer.ts and text-classifier.ts (the brief's text
// contract, verbatim) until their commit is merged; then this file only re-exports those.
import type * as tf from '@tensorflow/tfjs-core';
import type { LayersClassifier } from '../../model/classifier.js';

export type TokenKind = 'word' | 'url' | 'email' | 'number' | 'punct' | 'space';
export interface Token {
  text: string;
  kind: TokenKind;
}
export interface Tokenizer {
  tokenize(text: string): Token[];
}
export interface TextClassifier {
  readonly numClasses: number;
  readonly classNames: readonly string[];
  readonly tokenizer: Tokenizer;
  readonly maxLength: number;
  encode(texts: readonly string[]): tf.Tensor2D;
  logitsOfTexts(texts: readonly string[]): tf.Tensor2D;
  readonly ids: LayersClassifier;
  embeddingMatrix(): tf.Tensor2D;
  logitsFromEmbeddings(e: tf.Tensor3D): tf.Tensor2D;
  idOf(word: string): number;
  wordOf(id: number): string;
}
export interface TextDataset {
  name: string;
  texts: string[];
  y: Int32Array;
  n: number;
  numClasses: number;
  classNames: string[];
}
