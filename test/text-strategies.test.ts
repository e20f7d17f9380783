// The text adversarial-training strategies (a2t, embedding-pgd) on a tiny text-bag model and a few
// synthetic messages, with a hand-made synonym list so what may change is known exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { defaultTokenizer } from '../src/text/tokenizer.js';
import { buildVocabulary, PAD_ID, UNKNOWN_ID } from '../src/text/vocabulary.js';
import { textClassifier, type LayersTextClassifier, type TextPreprocessing } from '../src/text/text-classifier.js';
import { textToIdsDataset, type TextDataset } from '../src/data/text-dataset.js';
import { buildZooModel } from '../src/model/zoo.js';
import { Rng } from '../src/data/rng.js';
import { ENGLISH_STOP_WORDS } from '../src/text/stop-words.js';
import { buildSynonymTable, synonymTensors } from '../src/training/text/synonym-table.js';
import { synonymSubstitution } from '../src/training/text/synonym-substitution.js';
import { insertGoodWords } from '../src/training/text/good-word-insertion.js';
import { probeWords, rankGoodWords } from '../src/text/attack/good-words.js';
import { a2t, embeddingPgd, makeStrategy } from '../src/training/strategies/index.js';
import { train } from '../src/training/trainer.js';
import { parseThreat } from '../src/threat/threat-model.js';
import type { BatchContext } from '../src/training/strategy.js';
import { textMethodThreat } from '../src/cli/text-methods.js';
import { UserError } from '../src/errors.js';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from './cli-helpers.js';

const SYNONYMS: Record<string, string[]> = {
  free: ['gratis', 'complimentary', 'zorblax', 'the'],
  cash: ['money', 'currency'],
  cheap: ['inexpensive', 'affordable', 'budget'],
  prize: ['award', 'reward'],
  winner: ['victor'],
  offer: ['proposal', 'deal'],
  meeting: ['session'],
  project: ['plan'],
};
const synonyms = (w: string): string[] => SYNONYMS[w] ?? [];
const SPAM = ['free', 'cash', 'cheap', 'prize', 'winner', 'offer'];
const HAM = ['meeting', 'project', 'report', 'agenda', 'review', 'thanks'];
const FILL = ['today', 'please', 'people', 'week', 'time', 'home', 'order', 'online'];
const STOP = ['the', 'a', 'to', 'and', 'of', 'for', 'you', 'is'];
const L = 24;

test.before(async () => {
  await tf.setBackend('cpu');
});

/** Seeded messages: spam with spam words, a URL, a number and an address; ham with ham words. */
function messages(n: number, seed: number): TextDataset {
  const rng = new Rng(seed);
  const pick = <T>(a: readonly T[]) => a[rng.int(a.length)]!;
  const texts: string[] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const spam = i % 2 === 1;
    const words: string[] = [];
    for (let k = 0; k < 14; k++) words.push(rng.next() < 0.35 ? pick(STOP) : rng.next() < 0.5 ? pick(FILL) : pick(spam ? SPAM : HAM));
    if (spam) words.splice(rng.int(words.length), 0, 'http://win.biz/x', String(100 + rng.int(900)), 'me@win.com');
    texts.push(words.join(' '));
    y.push(spam ? 1 : 0);
  }
  // Every in-vocabulary synonym appears somewhere (in a ham text, so it is not a spam word).
  texts.push('gratis complimentary money currency inexpensive affordable budget award reward victor proposal deal session plan');
  y.push(0);
  return { name: 'tiny', texts, y: Int32Array.from(y), n: texts.length, numClasses: 2, classNames: ['ham', 'spam'] };
}

function setup(seed = 1): { ds: TextDataset; pre: TextPreprocessing; clf: LayersTextClassifier } {
  const ds = messages(32, 7);
  const tokenizer = defaultTokenizer();
  const vocabulary = buildVocabulary(ds.texts, tokenizer, { minCount: 1 });
  const pre: TextPreprocessing = { tokenizer, vocabulary, maxLength: L, classNames: ds.classNames };
  const model = buildZooModel('text-bag', { inputShape: [L], numClasses: 2, vocabSize: vocabulary.size, seed });
  return { ds, pre, clf: textClassifier(model, pre) };
}

const cfg = { epochs: 1, batchSize: 16, optimizer: 'adam' as const, schedule: { kind: 'constant' as const, lr: 3e-3 }, seed: 4 };

function weights(clf: LayersTextClassifier): Float32Array[] {
  return clf.ids.model.getWeights().map((w) => w.dataSync() as Float32Array);
}

/** Mean cross-entropy of the model on A2T's adversarial texts of `texts`, at the current weights. */
function a2tLoss(clf: LayersTextClassifier, pre: TextPreprocessing, texts: string[], labels: number[]): number {
  const table = synonymTensors(buildSynonymTable(pre.vocabulary, pre.tokenizer, { synonyms, k: 4 }));
  const out = tf.tidy(() => {
    const ids = clf.encode(texts);
    const ys = tf.oneHot(tf.tensor1d(labels, 'int32'), 2) as tf.Tensor2D;
    const adv = synonymSubstitution(clf, table, ids, ys, { maxShare: 0.2 });
    return tf.losses.softmaxCrossEntropy(ys, clf.ids.logits(tf.cast(adv, 'float32'))).dataSync()[0]!;
  });
  table.dispose();
  return out;
}

test('synonym table: only editable words get candidates, only their synonyms in the vocabulary (an unknown one once, as the unknown id)', () => {
  const { pre } = setup();
  const v = pre.vocabulary;
  const t = buildSynonymTable(v, pre.tokenizer, { synonyms, k: 3 });
  const words = (id: number) => t.candidatesOf(id).map((c) => v.wordOf(c));
  // 'the' is a stop word: a synonym may be one, but it is still a word of its own; 'zorblax' is not in the vocabulary.
  assert.deepEqual(words(v.idOf('free')), ['gratis', 'complimentary', '<unk>']);
  assert.deepEqual(words(v.idOf('cheap')), ['inexpensive', 'affordable', 'budget']);
  assert.deepEqual(words(v.idOf('today')), []);
  for (const key of ['the', 'and', 'you', 'http://win.biz/x', 'me@win.com', '100']) {
    const id = v.idOf(key);
    if (id === UNKNOWN_ID) continue;
    assert.equal(t.editable[id], 0, `${key} must not be editable`);
    assert.deepEqual(t.candidatesOf(id), [], `${key} must have no candidates`);
  }
  assert.equal(t.isWord[v.idOf('the')], 1, 'stop words count as words for the budget');
  assert.equal(t.isWord[v.idOf('http://win.biz/x')], 0, 'a URL is not a word');
  assert.equal(t.isWord[PAD_ID], 0);
});

test('synonym table: WordNet by default', () => {
  const tokenizer = defaultTokenizer();
  const v = buildVocabulary(['cheap inexpensive pills today'], tokenizer, { minCount: 1 });
  const t = buildSynonymTable(v, tokenizer);
  assert.ok(t.candidatesOf(v.idOf('cheap')).includes(v.idOf('inexpensive')));
});

test('a2t substitution: protected tokens, stop words and padding untouched, only synonyms, within the word budget; deterministic, no leaks', () => {
  const { ds, pre, clf } = setup();
  const table = buildSynonymTable(pre.vocabulary, pre.tokenizer, { synonyms, k: 4 });
  const tt = synonymTensors(table);
  const texts = ds.texts.filter((_, i) => ds.y[i] === 1);
  const before = tf.memory().numTensors;
  const ids = clf.encode(texts);
  // Labels the model currently gets right: a text it already misclassifies is left as it is.
  const ys = tf.tidy(() => tf.oneHot(tf.argMax(clf.ids.logits(ids), 1) as tf.Tensor1D, 2) as tf.Tensor2D);
  for (const share of [0.1, 0.25]) {
    const adv = synonymSubstitution(clf, tt, ids, ys, { maxShare: share, steps: 2 });
    const again = synonymSubstitution(clf, tt, ids, ys, { maxShare: share, steps: 2 });
    const a = adv.arraySync();
    assert.deepEqual(a, again.arraySync(), 'same inputs, same substitution');
    const o = ids.arraySync();
    let changedTotal = 0;
    o.forEach((row, r) => {
      const words = row.filter((id) => table.isWord[id]).length;
      let changed = 0;
      row.forEach((id, p) => {
        if (a[r]![p] === id) return;
        changed++;
        assert.equal(table.editable[id], 1, `row ${r}: ${pre.vocabulary.wordOf(id)} is not editable`);
        assert.ok(!ENGLISH_STOP_WORDS.has(pre.vocabulary.wordOf(id)));
        assert.ok(table.candidatesOf(id).includes(a[r]![p]!), `row ${r}: ${pre.vocabulary.wordOf(a[r]![p]!)} is not a synonym of ${pre.vocabulary.wordOf(id)}`);
      });
      assert.ok(changed <= Math.floor(share * words + 1e-9), `row ${r}: ${changed} changes for ${words} words at ${share}`);
      changedTotal += changed;
    });
    assert.ok(changedTotal > 0, `the substitution changed nothing at ${share}`);
    tf.dispose([adv, again]);
  }
  tf.dispose([ids, ys]);
  assert.equal(tf.memory().numTensors, before, 'synonymSubstitution leaked tensors');
  tt.dispose();
});

test('a2t trains: steps change the weights and lower the loss on its adversarial texts; same seed, same weights; no leaks', async () => {
  const run = async () => {
    const { ds, pre, clf } = setup();
    const labels = Array.from(ds.y);
    const lossBefore = a2tLoss(clf, pre, ds.texts, labels);
    const w0 = weights(clf);
    const before = tf.memory().numTensors;
    const s = a2t(pre, { table: buildSynonymTable(pre.vocabulary, pre.tokenizer, { synonyms, k: 4 }), cleanEpochs: 0, advRatio: 0.5, maxShare: 0.2, steps: 2 });
    const r = await train(clf.ids, textToIdsDataset(ds, pre), undefined, { ...cfg, schedule: { kind: 'constant', lr: 1e-2 }, epochs: 3, strategy: s });
    assert.equal(tf.memory().numTensors, before, 'a2t training leaked tensors');
    assert.ok(r.history.every((h) => h.adv_accuracy !== null && h.clean_accuracy !== null), 'clean and adversarial metrics are reported');
    const w1 = weights(clf);
    assert.ok(w0.some((w, i) => w.some((x, j) => x !== w1[i]![j])), 'the weights did not change');
    const lossAfter = a2tLoss(clf, pre, ds.texts, labels);
    assert.ok(lossAfter < lossBefore, `adversarial loss ${lossBefore} → ${lossAfter}`);
    return w1;
  };
  const a = await run();
  const b = await run();
  assert.deepEqual(a, b, 'a2t is deterministic with a seed');
});

test('a2t: the clean epochs train on clean texts only', async () => {
  const { ds, pre, clf } = setup();
  const s = a2t(pre, { table: buildSynonymTable(pre.vocabulary, pre.tokenizer, { synonyms, k: 4 }), cleanEpochs: 1, steps: 1 });
  const r = await train(clf.ids, textToIdsDataset(ds, pre), undefined, { ...cfg, epochs: 2, strategy: s });
  assert.equal(r.history[0]!.adv_accuracy, null);
  assert.notEqual(r.history[1]!.adv_accuracy, null);
});

function ctxOf(clf: LayersTextClassifier, ds: TextDataset, threat: string, seed = 5): BatchContext {
  const xs = tf.cast(clf.encode(ds.texts.slice(0, 16)), 'float32');
  const labels = tf.tensor1d(Array.from(ds.y.slice(0, 16)), 'int32');
  return { xs, labels, ys: tf.oneHot(labels, 2) as tf.Tensor2D, epoch: 0, seed, threat: parseThreat(threat) };
}

test('embedding-pgd: the perturbation stays in its per-token ball, padding never moves, salient moves only its share; deterministic, no leaks', () => {
  const { ds, pre, clf } = setup();
  for (const [threat, salient] of [['l2:0.3', undefined], ['linf:0.05', undefined], ['l2:0.3', 0.25]] as const) {
    const ctx = ctxOf(clf, ds, threat);
    const s = embeddingPgd(pre, { steps: 3, salient });
    const before = tf.memory().numTensors;
    const delta = s.prepare!(clf.ids, ctx)!;
    const again = s.prepare!(clf.ids, ctx)!;
    assert.equal(tf.memory().numTensors, before + 2, 'prepare leaked tensors');
    assert.deepEqual(delta.arraySync(), again.arraySync(), 'same seed, same perturbation');
    const eps = ctx.threat!.eps;
    const norms = tf.tidy(() => (threat.startsWith('l2') ? tf.norm(delta, 'euclidean', 2) : tf.max(tf.abs(delta), 2)).arraySync() as number[][]);
    const ids = tf.cast(ctx.xs, 'int32').arraySync() as number[][];
    let moved = 0;
    norms.forEach((row, r) => {
      const tokens = ids[r]!.filter((id) => id !== PAD_ID).length;
      const movedHere = row.filter((x) => x > 0).length;
      row.forEach((x, p) => {
        assert.ok(x <= eps * (1 + 1e-5), `${threat}: token ${p} of row ${r} moved ${x} > ${eps}`);
        if (ids[r]![p] === PAD_ID) assert.equal(x, 0, 'padding moved');
      });
      if (salient !== undefined) assert.ok(movedHere <= Math.ceil(salient * tokens), `row ${r}: ${movedHere} tokens moved of ${tokens}`);
      moved += movedHere;
    });
    assert.ok(moved > 0, 'nothing moved');
    // The loss on the perturbed embeddings is above the clean loss: the ascent worked.
    const [clean, adv] = tf.tidy(() => {
      const out = s.loss(clf.ids, ctx, delta);
      return [tf.losses.softmaxCrossEntropy(ctx.ys, out.clean!.logits).dataSync()[0]!, tf.losses.softmaxCrossEntropy(ctx.ys, out.adv!.logits).dataSync()[0]!];
    });
    assert.ok(adv > clean, `${threat}: adversarial loss ${adv} ≤ clean ${clean}`);
    tf.dispose([delta, again, ctx.xs, ctx.labels, ctx.ys]);
  }
});

test('embedding-pgd trains: the weights change and the loss at the embedding-space attack falls; no leaks', async () => {
  const { ds, pre, clf } = setup();
  const s = embeddingPgd(pre, { steps: 2 });
  const advLoss = () => {
    const ctx = ctxOf(clf, ds, 'l2:0.3', 9);
    const delta = s.prepare!(clf.ids, ctx)!;
    const l = tf.tidy(() => tf.losses.softmaxCrossEntropy(ctx.ys, s.loss(clf.ids, ctx, delta).adv!.logits).dataSync()[0]!);
    tf.dispose([delta, ctx.xs, ctx.labels, ctx.ys]);
    return l;
  };
  const l0 = advLoss();
  const w0 = weights(clf);
  const before = tf.memory().numTensors;
  await train(clf.ids, textToIdsDataset(ds, pre), undefined, { ...cfg, epochs: 3, strategy: s, threat: parseThreat('l2:0.3') });
  assert.equal(tf.memory().numTensors, before, 'embedding-pgd training leaked tensors');
  assert.ok(weights(clf).some((w, i) => w.some((x, j) => x !== w0[i]![j])), 'the weights did not change');
  const l1 = advLoss();
  assert.ok(l1 < l0, `adversarial loss ${l0} → ${l1}`);
});

test('text methods: refused without a text model, on image data, or with a threat of the wrong kind', () => {
  assert.throws(() => makeStrategy('a2t', { eps: 1 }), (e: unknown) => e instanceof UserError && /text data set/.test((e as Error).message));
  assert.throws(() => textMethodThreat({ method: 'a2t', dataset: 'mnist', isText: false }), /trains text models/);
  assert.throws(() => textMethodThreat({ method: 'embedding-pgd', dataset: 'spam', isText: true, threat: 'l1:3' }), /l2 or linf/);
  assert.throws(() => textMethodThreat({ method: 'a2t', dataset: 'spam', isText: true, threat: 'linf:0.3' }), /words:SHARE/);
  assert.throws(() => textMethodThreat({ method: 'a2t', dataset: 'spam', isText: true, robustVal: 10 }), /--robust-val/);
  assert.equal(textMethodThreat({ method: 'a2t', dataset: 'spam', isText: true }).maxShare, 0.1);
  assert.equal(textMethodThreat({ method: 'embedding-pgd', dataset: 'spam', isText: true, threat: 'linf:0.02' }).threat!.eps, 0.02);
});

test('advtrain train --method a2t on image data, or --good-words without a text method: one line, non-zero exit, nothing written', () => {
  const root = mkdtempSync(join(tmpdir(), 'advtrain-textm-'));
  try {
    const out = join(root, 'run');
    const r = spawnSync(process.execPath, [BIN, 'train', '--dataset', 'mnist', '--model', 'mlp', '--method', 'a2t', '--out', out], { encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr.trim(), /^[^\n]*--method a2t trains text models[^\n]*$/);
    assert.ok(!existsSync(out), 'nothing is written');
    const g = spawnSync(process.execPath, [BIN, 'train', '--dataset', 'mnist', '--model', 'mlp', '--good-words', '3', '--out', out], { encoding: 'utf8' });
    assert.notEqual(g.status, 0);
    assert.match(g.stderr.trim(), /^[^\n]*--good-words applies to --method a2t and embedding-pgd only[^\n]*$/);
    assert.ok(!existsSync(out), 'nothing is written');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('good-word insertion on ids: distinct words from the label\'s list at the front, within the word budget, the tail pushed out; the input untouched', () => {
  const L = 8;
  const isWord = [0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1]; // id 7 is not a word (a URL, say)
  const ids = Float32Array.from([2, 3, 7, 4, 5, 6, 2, 3, /* 7 words */ 2, 3, 0, 0, 0, 0, 0, 0 /* 2 words */]);
  const copy = Float32Array.from(ids);
  const lists = [[8, 9, 10], [9]];
  const out = insertGoodWords(ids, [0, 1], L, isWord, (y) => lists[y]!, { maxWords: 5, maxShare: 0.5, seed: 1 });
  assert.deepEqual(ids, copy);
  const row0 = Array.from(out.subarray(0, L));
  // ⌊0.5 · 7⌋ = 3 words, all from list 0, distinct, then the row's first 5 ids.
  assert.deepEqual([...row0.slice(0, 3)].sort(), [10, 8, 9].sort());
  assert.deepEqual(row0.slice(3), [2, 3, 7, 4, 5]);
  // ⌊0.5 · 2⌋ = 1 word; list 1 holds one.
  assert.deepEqual(Array.from(out.subarray(L)), [9, 2, 3, 0, 0, 0, 0, 0]);
  const again = insertGoodWords(ids, [0, 1], L, isWord, (y) => lists[y]!, { maxWords: 5, maxShare: 0.5, seed: 1 });
  assert.deepEqual(again, out, 'same seed, same draw');
  const none = insertGoodWords(ids, [0, 1], L, isWord, (y) => lists[y]!, { maxWords: 5, maxShare: 0.1, seed: 1 });
  assert.deepEqual(none, ids, 'a budget of 0 words inserts nothing');
});

test('a2t with good words: trains on substituted and inserted copies, lowers the loss of good-word insertion, deterministic, no leaks', async () => {
  const run = async () => {
    const { ds, pre, clf } = setup();
    const spam = ds.texts.filter((_, i) => ds.y[i] === 1);
    // The goodword attack's view: each spam text with the model's best ham words in front.
    const insertedLoss = () =>
      tf.tidy(() => {
        const probe = probeWords(clf, 5000);
        const good = rankGoodWords(probe, 1).slice(0, 2).map((j) => probe.words[j]!);
        const logits = clf.logitsOfTexts(spam.map((t) => `${good.join(' ')} ${t}`));
        return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.fill([spam.length], 1, 'int32'), 2), logits).dataSync()[0]!;
      });
    const before = tf.memory().numTensors;
    const s = a2t(pre, { table: buildSynonymTable(pre.vocabulary, pre.tokenizer, { synonyms, k: 4 }), cleanEpochs: 1, advRatio: 0.5, maxShare: 0.2, steps: 1, goodWords: 2, goodWordKeep: 4 });
    assert.deepEqual(s.params, { advRatio: 0.5, maxShare: 0.2, minChanges: 0, candidates: 20, steps: 1, cleanEpochs: 1, goodWords: 2, goodWordKeep: 4, goodWordVocabulary: 5000 });
    await train(clf.ids, textToIdsDataset(ds, pre), undefined, { ...cfg, schedule: { kind: 'constant', lr: 1e-2 }, epochs: 1, strategy: s });
    const afterClean = insertedLoss();
    const r = await train(clf.ids, textToIdsDataset(ds, pre), undefined, { ...cfg, schedule: { kind: 'constant', lr: 1e-2 }, epochs: 4, strategy: s });
    // The probed lists are checkpointed: a strategy restored from them carries the same ones.
    const saved = s.saveState!();
    assert.ok((saved.json?.goodWords as { byLabel: number[][] }).byLabel[1]!.length > 0);
    const restored = a2t(pre, { goodWords: 2, goodWordKeep: 4 });
    restored.loadState!(saved);
    assert.deepEqual(restored.saveState!(), saved);
    s.dispose?.();
    assert.equal(tf.memory().numTensors, before, 'a2t with good words leaked tensors');
    assert.notEqual(r.history.at(-1)!.adv_accuracy, null);
    const afterAdv = insertedLoss();
    assert.ok(afterAdv < afterClean, `good-word insertion loss ${afterClean} → ${afterAdv}`);
    return weights(clf);
  };
  assert.deepEqual(await run(), await run(), 'a2t with good words is deterministic with a seed');
  assert.equal(a2t(setup().pre, {}).params!.goodWords, undefined, 'goodWords 0 is the published A2T and its config');
  assert.throws(() => a2t(setup().pre, { goodWords: -1 }), /--good-words/);
});

test('embedding-pgd with good words: the batch grows by its inserted copies (ids carried with δ), training on them lowers the loss of good-word insertion; same seed, same batch; checkpointed, no leaks', async () => {
  const { ds, pre, clf } = setup();
  const s = embeddingPgd(pre, { steps: 2, goodWords: 2, goodWordKeep: 4, advRatio: 0.25, maxShare: 0.2 });
  assert.deepEqual(s.params, { steps: 2, stepFactor: 1.25, cleanWeight: 0.5, advRatio: 0.25, maxShare: 0.2, goodWords: 2, goodWordKeep: 4, goodWordVocabulary: 5000 });
  assert.deepEqual(embeddingPgd(pre, { steps: 2 }).params, { steps: 2, stepFactor: 1.25, cleanWeight: 0.5 }, 'goodWords 0 keeps the published config');
  const ctx = ctxOf(clf, ds, 'l2:0.3');
  const before = tf.memory().numTensors;
  const prepared = s.prepare!(clf.ids, ctx)!;
  const again = s.prepare!(clf.ids, ctx)!;
  assert.equal(tf.memory().numTensors, before + 2, 'prepare leaked tensors');
  assert.deepEqual(prepared.arraySync(), again.arraySync(), 'same seed, same copies and perturbation');
  const [rows, len, d1] = prepared.shape;
  assert.deepEqual([rows, len], [16 + 4, L]);
  const ids = tf.tidy(() => tf.reshape(tf.slice(prepared, [0, 0, d1! - 1], [rows!, len!, 1]), [rows!, len!]).arraySync() as number[][]);
  const orig = tf.cast(ctx.xs, 'int32').arraySync() as number[][];
  assert.deepEqual(ids.slice(0, 16), orig, 'the batch itself comes first, unchanged');
  for (let r = 0; r < 4; r++) {
    const n = ids[16 + r]!.findIndex((_, j) => ids[16 + r]!.slice(j).every((x, k) => x === orig[r]![k]));
    assert.ok(n >= 0 && n <= 2, `copy ${r}: ${n} words inserted`);
  }
  const out = tf.tidy(() => {
    const l = s.loss(clf.ids, ctx, prepared);
    return [l.clean!.logits.shape[0], l.adv!.logits.shape[0]];
  });
  assert.deepEqual(out, [16, 16], 'metrics on the batch\'s own rows');
  tf.dispose([prepared, again, ctx.xs, ctx.labels, ctx.ys]);

  const spam = ds.texts.filter((_, i) => ds.y[i] === 1);
  const trained = async (goodWords: number) => {
    const { clf: c } = setup();
    const strategy = embeddingPgd(pre, { steps: 1, goodWords, goodWordKeep: 6, advRatio: 1, maxShare: 0.25 });
    const start = tf.memory().numTensors;
    await train(c.ids, textToIdsDataset(ds, pre), undefined, { ...cfg, schedule: { kind: 'constant', lr: 3e-2 }, epochs: 4, strategy, threat: parseThreat('l2:0.02') });
    assert.equal(tf.memory().numTensors, start, 'embedding-pgd with good words leaked tensors');
    const loss = tf.tidy(() => {
      const ys = tf.oneHot(tf.fill([spam.length], 1, 'int32'), 2);
      const inserted = tf.losses.softmaxCrossEntropy(ys, c.logitsOfTexts(spam.map((t) => `${HAM.slice(0, 3).join(' ')} ${t}`)));
      return tf.sub(inserted, tf.losses.softmaxCrossEntropy(ys, c.logitsOfTexts(spam))).dataSync()[0]!;
    });
    return { loss, state: strategy.saveState!() };
  };
  const withWords = await trained(3);
  const without = await trained(0);
  assert.ok(withWords.loss < without.loss, `good-word insertion loss ${without.loss} without → ${withWords.loss} with`);
  const restored = embeddingPgd(pre, { goodWords: 2 });
  restored.loadState!(withWords.state);
  assert.deepEqual(restored.saveState!(), withWords.state);
  assert.deepEqual(without.state, {});
  assert.throws(() => embeddingPgd(pre, { goodWords: 1.5 }), /embedding-pgd: --good-words/);
});
