// A hand-written bag-of-words spam filter meeting the TextClassifier contract, for the text
// attack tests: its weights are known, so which words matter is known.
import * as tf from '@tensorflow/tfjs-core';
import type { LayersClassifier } from '../src/model/classifier.js';
import type { TextClassifier } from '../src/text/text-classifier.js';
import { defaultTokenizer, type Tokenizer } from '../src/text/tokenizer.js';
import { Rng } from '../src/data/rng.js';

/** The real tokenizer (URLs, e-mail addresses and numbers single tokens). */
export const fixtureTokenizer: Tokenizer = defaultTokenizer();

export const SPAM_WORDS: Record<string, number> = {
  free: 1.2, cash: 1.0, offer: 0.9, winner: 1.1, cheap: 1.0, buy: 0.8, prize: 1.0, urgent: 0.9,
  money: 0.8, guaranteed: 0.9, bonus: 0.9, discount: 0.8, credit: 0.7, limited: 0.6,
};
export const HAM_WORDS: Record<string, number> = {
  meeting: -1.0, project: -1.0, thanks: -0.8, report: -0.9, schedule: -0.9, colleague: -0.8, agenda: -1.0, review: -0.7,
};
export const FILLER = ['please', 'today', 'message', 'information', 'people', 'world', 'home', 'week', 'time', 'days', 'service', 'order', 'online', 'account', 'details', 'start', 'best', 'great', 'new', 'call'];
const STOP = ['the', 'a', 'to', 'and', 'of', 'for', 'you', 'your', 'is', 'in', 'this', 'with', 'not'];
const BIAS = 1.5;

/** The bag-of-words model plus counters of its forward calls and the texts it scored. */
export interface FixtureClassifier extends TextClassifier {
  calls: number;
  texts: number;
  /** Forward passes on ids (the goal's fast path). */
  idCalls: number;
}

/**
 * `dense`: the encoding reads punctuation too (every non-space token one position, as the real
 * text models do), which lets the goal build candidates' ids without re-tokenizing.
 */
export function fixtureClassifier(maxLength = 64, dense = false): FixtureClassifier {
  const vocab = ['<pad>', '<unk>', ...Object.keys(SPAM_WORDS), ...Object.keys(HAM_WORDS), ...FILLER, ...STOP];
  const index = new Map(vocab.map((w, i) => [w, i]));
  const weight = vocab.map((w) => SPAM_WORDS[w] ?? HAM_WORDS[w] ?? 0);
  const E = tf.keep(tf.tensor2d(weight.flatMap((v) => [v, 0]), [vocab.length, 2]));
  const idOf = (w: string) => index.get(w) ?? 1;
  const clf: FixtureClassifier = {
    calls: 0,
    texts: 0,
    numClasses: 2,
    classNames: ['ham', 'spam'],
    tokenizer: fixtureTokenizer,
    maxLength,
    encode(texts) {
      const ids = new Int32Array(texts.length * maxLength);
      texts.forEach((t, r) => {
        let p = 0;
        for (const tok of fixtureTokenizer.tokenize(t)) {
          if (p >= maxLength) break;
          if (tok.kind === 'space' || (!dense && tok.kind === 'punct')) continue;
          ids[r * maxLength + p++] = idOf(tok.text.toLowerCase());
        }
      });
      return tf.tensor2d(ids, [texts.length, maxLength], 'int32');
    },
    logitsFromEmbeddings(e) {
      return tf.tidy(() => {
        const s = tf.sub(tf.sum(tf.slice(e, [0, 0, 0], [-1, -1, 1]), [1, 2]), BIAS);
        return tf.stack([tf.zerosLike(s), s], 1) as tf.Tensor2D;
      });
    },
    logitsOfTexts(texts) {
      clf.calls++;
      clf.texts += texts.length;
      return tf.tidy(() => clf.logitsFromEmbeddings(tf.gather(E, clf.encode(texts)) as unknown as tf.Tensor3D));
    },
    ids: {
      logits: (x: tf.Tensor) => {
        clf.idCalls++;
        return tf.tidy(() => clf.logitsFromEmbeddings(tf.gather(E, x) as unknown as tf.Tensor3D));
      },
    } as unknown as LayersClassifier,
    idCalls: 0,
    embeddingMatrix: () => E,
    idOf,
    wordOf: (id) => vocab[id] ?? '<unk>',
  };
  return clf;
}

/**
 * Seeded spam messages: filler and stop words, 2–4 spam words (enough to be spam), a URL, a
 * number and an e-mail address.
 */
export function spamMessages(n: number, seed = 0): string[] {
  const rng = new Rng(seed);
  const spam = Object.keys(SPAM_WORDS);
  const pick = <T>(a: readonly T[]) => a[rng.int(a.length)]!;
  const out: string[] = [];
  while (out.length < n) {
    const words: string[] = [];
    const len = 30 + rng.int(20);
    for (let k = 0; k < len; k++) words.push(rng.next() < 0.4 ? pick(STOP) : pick(FILLER));
    const m = 2 + rng.int(3);
    let s = 0;
    for (let k = 0; k < m; k++) {
      const w = pick(spam);
      s += SPAM_WORDS[w]!;
      words.splice(rng.int(words.length), 0, k === 0 ? w.toUpperCase() : w);
    }
    if (s <= BIAS + 0.3) continue;
    words.splice(rng.int(words.length), 0, 'http://cheap-pills.biz/buy?id=7');
    words.splice(rng.int(words.length), 0, String(100 + rng.int(900)));
    words.splice(rng.int(words.length), 0, 'sales@win.example.com');
    out.push(words.join(' ').replace(/^./, (c) => c.toUpperCase()) + '!');
  }
  return out;
}
