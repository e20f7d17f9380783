// The text path through the CLI: train on a user's CSV of texts, text.json beside the model,
// predict on raw text lines, JSONL and CSV through the saved preprocessing (agreeing with the library),
// image predict on PNG and IDX, and one-line errors with nothing written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { PNG } from 'pngjs';
import { loadTextClassifier } from '../src/text/text-model-io.js';
import { buildZooModel } from '../src/model/zoo.js';
import { saveModel } from '../src/model/io.js';
import { encodeIdx } from '../src/data/idx.js';
import { runPredict } from '../src/cli/predict.js';
import { runTrain, type TrainOptions } from '../src/cli/train.js';
import { assertOneLineError, cli } from './cli-helpers.js';

const SPAMMY = ['win', 'free', 'cash', 'prize', 'click', 'offer', 'money', 'viagra'];
const HAMMY = ['meeting', 'report', 'lunch', 'patch', 'kernel', 'review', 'notes', 'agenda'];

/** 120 short texts, spam made of spammy words and ham of hammy ones (a separable toy corpus). */
function corpusCsv(path: string): void {
  const rows = ['id,body,kind'];
  for (let i = 0; i < 120; i++) {
    const words = i % 2 ? SPAMMY : HAMMY;
    const text = Array.from({ length: 6 }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(' ') + ` ${i}`;
    rows.push(`${i},"${text}, http://x${i}.com",${i % 2 ? 'spam' : 'ham'}`);
  }
  writeFileSync(path, rows.join('\n') + '\n');
}

test('train text-bag on csv:FILE, then predict raw text lines and JSONL through the saved text.json', async () => {
  const root = mkdtempSync(join(tmpdir(), 'advtrain-textcli-'));
  try {
    const csv = join(root, 'mail.csv');
    corpusCsv(csv);
    const out = join(root, 'model');
    const r = cli('train', '--dataset', `csv:${csv}`, '--text-column', 'body', '--label-column', 'kind', '--model', 'text-bag', '--epochs', '8',
      '--lr', '0.02', '--max-length', '12', '--min-count', '1', '--out', out);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /test accuracy (\d+\.\d+)%/);
    const text = JSON.parse(readFileSync(join(out, 'text.json'), 'utf8')) as { maxLength: number; classNames: string[]; vocabulary: string[] };
    assert.equal(text.maxLength, 12);
    assert.deepEqual(text.classNames, ['ham', 'spam']);
    assert.ok(text.vocabulary.includes('prize'));
    const lines = join(root, 'in.txt');
    writeFileSync(lines, 'win free cash prize click offer\n\nmeeting report lunch patch kernel review\n');
    const p = cli('predict', '--model', out, '--input', lines, '--backend', 'cpu');
    assert.equal(p.code, 0, p.stderr);
    const preds = p.stdout.trim().split('\n').map((l) => JSON.parse(l) as { index: number; predicted: number; class: string; probability: number });
    assert.deepEqual(preds.map((x) => [x.index, x.class]), [[1, 'spam'], [3, 'ham']]);
    const jsonl = join(root, 'adv.jsonl');
    writeFileSync(jsonl, [
      JSON.stringify({ index: 7, original: 'meeting notes', adversarial: 'free cash prize now', predicted_after: 1 }),
      JSON.stringify({ index: 8, text: 'agenda review kernel' }),
    ].join('\n'));
    const outFile = join(root, 'pred.jsonl');
    await runPredict({ model: out, input: jsonl, out: outFile, format: 'jsonl', backend: 'cpu' });
    const fromFile = readFileSync(outFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { index: number; predicted: number; probability: number });
    assert.deepEqual(fromFile.map((x) => [x.index, x.predicted]), [[7, 1], [8, 0]]);
    // the library agrees with the CLI
    const clf = await loadTextClassifier(out);
    const logits = clf.logitsOfTexts(['free cash prize now', 'agenda review kernel']);
    const prob = tf.tidy(() => tf.softmax(logits)).arraySync() as number[][];
    logits.dispose();
    assert.ok(Math.abs(prob[0]![1]! - fromFile[0]!.probability) < 1e-4);
    clf.ids.model.dispose();
    // CSV (the training file's own format): the text column by name, ids from its "id" column; commas and line breaks inside quotes
    const csvIn = join(root, 'in.csv');
    writeFileSync(csvIn, 'id,label,message\n41,spam,"free cash, prize now"\n42,ham,"agenda review\nkernel"\n');
    const viaCsv = await runPredict({ model: out, input: csvIn, textColumn: 'message', out: join(root, 'csv.jsonl'), format: 'jsonl', backend: 'cpu' });
    assert.deepEqual(viaCsv.map((x) => [x.index, x.predicted]), [[41, 1], [42, 0]]);
    const csvCli = cli('predict', '--model', out, '--input', csvIn, '--text-column', 'message', '--format', 'table', '--backend', 'cpu');
    assert.equal(csvCli.code, 0, csvCli.stderr);
    assert.match(csvCli.stdout, /^41\s+spam\s/m);
    assert.match(csvCli.stderr, /2 inputs classified \(CSV\)/);
    writeFileSync(csvIn, 'body\nfree cash\n');
    const noId = await runPredict({ model: out, input: csvIn, textColumn: 'body', out: join(root, 'csv.jsonl'), format: 'jsonl', backend: 'cpu' });
    assert.deepEqual(noId.map((x) => x.index), [2], 'without an id column a row is named by its line');
    // bad input: one line, nothing written
    const bad = join(root, 'bad.jsonl');
    writeFileSync(bad, '{"text":"ok"}\n{"text": oops}\n');
    const outBad = join(root, 'never.jsonl');
    assertOneLineError(cli('predict', '--model', out, '--input', bad, '--out', outBad, '--backend', 'cpu'), /bad\.jsonl line 2 is not valid JSON/);
    assert.equal(existsSync(outBad), false);
    const predictError = async (input: string, re: RegExp) =>
      assert.rejects(runPredict({ model: out, input, format: 'jsonl', backend: 'cpu' }), (e: Error) => e.name === 'UserError' && re.test(e.message) && !e.message.includes('\n'));
    writeFileSync(bad, '{"body":"ok"}\n');
    await predictError(bad, /bad\.jsonl line 1: no text field "text" or "adversarial"/);
    await predictError(join(root, 'x.png'), /input not found/);
    writeFileSync(join(root, 'x.png'), 'not a png');
    await predictError(join(root, 'x.png'), /x\.png is PNG input, which a text model cannot read/);
    writeFileSync(csvIn, 'text,label\nfree cash,spam\nagenda,ham,extra\n');
    assertOneLineError(cli('predict', '--model', out, '--input', csvIn, '--out', outBad, '--backend', 'cpu'), /in\.csv line 3: expected 2 fields \(as in the header\) but found 3/);
    assert.equal(existsSync(outBad), false);
    await predictError(csvIn, /in\.csv line 3: expected 2 fields/);
    writeFileSync(csvIn, 'body,label\nfree cash,spam\n');
    await predictError(csvIn, /in\.csv: no text column "text"; choose one of body, label with --text-column/);
    writeFileSync(csvIn, 'text\n"  "\n');
    await predictError(csvIn, /in\.csv line 2: the text \(column "text"\) is empty/);
    await assert.rejects(runPredict({ model: out, input: lines, textColumn: 'body', format: 'jsonl', backend: 'cpu' }), /--text-column applies to CSV input, not text lines/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('text training refuses image models, adversarial methods and text options on image data, before writing anything', async () => {
  const root = mkdtempSync(join(tmpdir(), 'advtrain-textcli-'));
  try {
    const out = join(root, 'run');
    const base: TrainOptions = { dataset: 'spam', model: 'text-cnn', epochs: 1, optimizer: 'adam', seed: 0, out, valFraction: 0, backend: 'cpu', method: 'standard' };
    const refused = async (o: Partial<TrainOptions>, re: RegExp) =>
      assert.rejects(runTrain({ ...base, ...o }), (e: Error) => e.name === 'UserError' && re.test(e.message) && !e.message.includes('\n'));
    await refused({ model: 'mnist-small' }, /spam is a text data set: train a token model \(--model text-cnn or --model text-bag\)/);
    await refused({ method: 'pgd-at', threat: 'linf:0.1' }, /--method pgd-at does not train text models/);
    await refused({ dataset: 'mnist', model: 'mlp', maxLength: 50 }, /--max-length applies to text data sets/);
    const csv = join(root, 'bad.csv');
    writeFileSync(csv, 'text,label\nhello,ham\n"unclosed,spam\n');
    assertOneLineError(cli('train', '--dataset', `csv:${csv}`, '--model', 'text-bag', '--out', out), /bad\.csv line 3: a quoted field is never closed/);
    assert.equal(existsSync(out), false);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('predict reads PNG files and IDX for image models', async () => {
  const root = mkdtempSync(join(tmpdir(), 'advtrain-predict-img-'));
  try {
    const model = buildZooModel('mlp', { inputShape: [4, 4, 1], numClasses: 3, seed: 0 });
    const dir = join(root, 'm');
    await saveModel(dir, model, { inputShape: [4, 4, 1], numClasses: 3, domain: { lower: 0, upper: 1 }, output: 'logits', classNames: ['a', 'b', 'c'] });
    const pixels = Uint8Array.from({ length: 2 * 16 }, (_, i) => (i * 37) % 256);
    writeFileSync(join(root, 'imgs.idx'), encodeIdx([2, 4, 4], 'uint8', pixels));
    for (let k = 0; k < 2; k++) {
      const png = new PNG({ width: 4, height: 4 });
      for (let i = 0; i < 16; i++) png.data.set([pixels[16 * k + i]!, pixels[16 * k + i]!, pixels[16 * k + i]!, 255], 4 * i);
      writeFileSync(join(root, `img${k}.png`), PNG.sync.write(png));
    }
    const want = tf.tidy(() => tf.argMax(model.predict(tf.tensor(Float32Array.from(pixels, (v) => v / 255), [2, 4, 4, 1])) as tf.Tensor, 1).arraySync() as number[]);
    const viaIdx = await runPredict({ model: dir, input: join(root, 'imgs.idx'), out: join(root, 'idx.jsonl'), format: 'jsonl', backend: 'cpu' });
    assert.deepEqual(viaIdx.map((p) => p.predicted), want);
    const tableFile = join(root, 'png.txt');
    const viaPng = await runPredict({ model: dir, input: root, out: tableFile, format: 'table', backend: 'cpu' });
    assert.deepEqual(viaPng.map((p) => p.index), ['img0.png', 'img1.png']);
    const rows = readFileSync(tableFile, 'utf8').trim().split('\n').slice(1).map((l) => l.split(/\s+/));
    assert.deepEqual(rows.map((r) => r[1]), want.map((k) => ['a', 'b', 'c'][k]));
    writeFileSync(join(root, 'lines.txt'), 'hello\n');
    await assert.rejects(runPredict({ model: dir, input: join(root, 'lines.txt'), format: 'jsonl', backend: 'cpu' }),
      /lines\.txt is text lines input, which a features model cannot read: this model reads PNG, IDX/);
    model.dispose();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
