import type * as tfl from '@tensorflow/tfjs-layers';
import type { LayersClassifier } from '../../model/classifier.js';
import { textClassifier, type LayersTextClassifier, type TextPreprocessing } from '../../text/text-classifier.js';

const views = new WeakMap<tfl.LayersModel, { pre: TextPreprocessing; view: LayersTextClassifier }>();

/**
 * The text classifier over the token-id model a strategy is training (its embedding matrix and
 * the layers after it), built once per model and preprocessing. Text strategies receive the
 * trainer's id classifier; this gives them the embedding split and the vocabulary.
 *
 * @example
 * ```ts
 * const tc = textView(clf, preprocessing);
 * const logits = tc.logitsFromEmbeddings(tf.gather(tc.embeddingMatrix(), ids) as tf.Tensor3D);
 * ```
 */
export function textView(clf: LayersClassifier, pre: TextPreprocessing): LayersTextClassifier {
  const hit = views.get(clf.model);
  if (hit && hit.pre === pre) return hit.view;
  const view = textClassifier(clf.model, pre);
  views.set(clf.model, { pre, view });
  return view;
}
