// --save-examples on tabular data: `attack` and `eval --preset tabular` write every attacked
// record in the data set's own format (CSV for csv:FILE, NSL-KDD lines, ARFF) plus FILE.jsonl
// with a verdict per record; `advtrain predict` reads such a file through the model's saved
// encoding and agrees with predicted_after on every record; every saved record re-validates;
// predict picks that reader only for models saved with tabular.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/engine/backend.js';
import { infeasibility } from '../src/data/domain.js';
import { Rng } from '../src/data/rng.js';
import { loadDataset } from '../src/data/index.js';
import { buildZooModel } from '../src/model/zoo.js';
import { saveModel } from '../src/model/io.js';
import type { TabularSchema } from '../src/tabular/schema.js';
import { readTabularRecords } from '../src/tabular/raw-writer.js';
import { loadTabularCsv } from '../src/tabular/csv-tabular.js';
import { modelFilesFor, sharedDataDir, type TabularDataset } from '../src/tabular/tabular-dataset.js';
import type { TabularVerdict } from '../src/eval/tabular-examples-writer.js';
import { runPredict } from '../src/cli/predict.js';
import { runTrain } from '../src/cli/train.js';
import { pickReader } from '../src/cli/predict-inputs.js';
import { UserError } from '../src/errors.js';
import { cli } from './cli-helpers.js';


function ok(r: ReturnType<typeof cli>): string {
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

const FLOWS: TabularSchema = {
  format: 'advtrain/tabular-schema@1',
  name: 'flows',
  features: [
    { name: 'proto', type: 'categorical', categories: ['tcp', 'udp', 'icmp'] },
    { name: 'bytes', type: 'integer', min: 0, max: 100000, scale: 'log' },
    { name: 'packets', type: 'integer', min: 0, max: 50 },
    { name: 'rate', type: 'real', min: 0, max: 1, step: 0.01 },
    { name: 'err', type: 'real', min: 0, max: 1, step: 0.01 },
    { name: 'flag', type: 'binary' },
    { name: 'service', type: 'integer', min: 0, max: 9, mutable: false },
  ],
  relations: [
    { name: 'icmp-no-flag', expr: 'proto == "icmp" -> flag == 0' },
    { name: 'rates', expr: 'rate + err <= 1' },
    { name: 'bytes-per-packet', expr: 'bytes <= 1500 * packets' },
  ],
};

/** A seeded table whose records satisfy every relation; the label follows rate and err (learnable). */
function flowsCsv(n: number, seed: number): string {
  const rng = new Rng(seed);
  const rows = ['proto,bytes,packets,rate,err,flag,service,label'];
  for (let i = 0; i < n; i++) {
    const proto = ['tcp', 'udp', 'icmp'][rng.int(3)]!;
    const packets = 1 + rng.int(50);
    const bytes = rng.int(Math.min(100000, 1500 * packets) + 1);
    const rate = rng.int(101);
    const err = rng.int(101 - rate);
    const flag = proto === 'icmp' ? 0 : rng.int(2);
    const label = rate + 2 * err > 90 ? 'attack' : 'normal';
    rows.push([proto, bytes, packets, (rate / 100).toFixed(2), (err / 100).toFixed(2), flag, rng.int(10), label].join(','));
  }
  return rows.join('\n') + '\n';
}

function readJsonl<T>(path: string): T[] {
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
}

/**
 * The checks of one saved file: predict (through the model's tabular.json) agrees with
 * predicted_after on every record, every record reads back through the schema and is valid
 * against its clean record (immutables, grids, relations), and the verdicts say so.
 */
async function checkSaved(file: string, model: string, ds: TabularDataset, label: string): Promise<TabularVerdict[]> {
  const verdicts = readJsonl<TabularVerdict>(`${file}.jsonl`);
  assert.ok(verdicts.length > 0, `${label}: some records were attacked`);
  const predictions = await runPredict({ model, input: file, out: `${file}.predictions.jsonl`, format: 'jsonl', backend: 'cpu' });
  assert.equal(predictions.length, verdicts.length, label);
  const agree = predictions.filter((p, k) => p.class === verdicts[k]!.predicted_after).length;
  assert.equal(agree, verdicts.length, `${label}: predict agrees with predicted_after on ${agree}/${verdicts.length} records`);
  const back = readTabularRecords(file, ds.encoding);
  const d = ds.encoding.d;
  const domain = ds.encoding.domain();
  verdicts.forEach((v, k) => {
    const why = infeasibility(domain, back.x.subarray(k * d, (k + 1) * d), ds.x.subarray(v.index * d, (v.index + 1) * d));
    assert.equal(why, undefined, `${label} record ${k} (example ${v.index})`);
    assert.equal(v.valid, true, `${label} record ${k}`);
    assert.equal(v.label, ds.classNames[ds.y[v.index]!], `${label} record ${k}: label`);
    assert.deepEqual(back.tails[k], ds.tails[v.index], `${label} record ${k}: its label fields come along`);
  });
  assert.ok(verdicts.some((v) => v.predicted_after !== v.label && v.changed_features.length > 0), `${label}: some record fools the model`);
  return verdicts;
}

test('csv:FILE --schema --label-column: attack and eval --preset tabular save CSV records + verdicts; predict agrees on 100%, every record valid', async () => {
  await selectBackend('cpu');
  const dir = mkdtempSync(join(tmpdir(), 'advtrain-tabsave-'));
  const [csv, schema, model] = [join(dir, 'flows.csv'), join(dir, 'flows.json'), join(dir, 'm')];
  writeFileSync(csv, flowsCsv(300, 3));
  writeFileSync(schema, JSON.stringify(FLOWS));
  const data = ['--dataset', `csv:${csv}`, '--schema', schema, '--label-column', 'label'];
  await runTrain({ dataset: `csv:${csv}`, schema, labelColumn: 'label', model: 'mlp', epochs: 8, batchSize: 32, lr: 3e-3, optimizer: 'adam', seed: 0, out: model, valFraction: 0, backend: 'cpu', method: 'standard' });
  assert.ok(existsSync(join(model, 'tabular.json')));
  const { test: held } = loadTabularCsv(csv, { schema, labelColumn: 'label' });
  const adv = join(dir, 'adv.csv');
  const out = ok(cli('attack', '--model', model, ...data, '--attack', 'capgd', '--threat', 'l2:1', '--n', '60', '--save-examples', adv, '--json', join(dir, 'r.json'), '--backend', 'cpu'));
  assert.match(out, /valid records 100\.00%/);
  const r = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as { attacked: number; robust_accuracy: number; clean_accuracy: number; data: { n: number } };
  assert.match(readFileSync(adv, 'utf8').split('\n')[0]!, /^proto,bytes,packets,rate,err,flag,service,label$/);
  const verdicts = await checkSaved(adv, model, held, 'attack');
  assert.equal(verdicts.length, r.attacked);
  // the verdicts count what the attack reported: the records it broke are those misclassified after
  const broken = Math.round((r.clean_accuracy - r.robust_accuracy) * r.data.n);
  assert.equal(verdicts.filter((v) => v.predicted_after !== v.label).length, broken);
  assert.ok(verdicts.every((v) => !v.changed_features.includes('service') && !v.changed_features.includes('proto')), 'immutable and uncontrolled features unchanged');

  const advEval = join(dir, 'eval.csv');
  ok(cli('eval', '--model', model, ...data, '--preset', 'tabular', '--threat', 'l2:1', '--n', '60', '--no-checks', '--save-examples', advEval, '--backend', 'cpu'));
  const ev = await checkSaved(advEval, model, held, 'eval');
  assert.ok(ev.every((v) => (v.predicted_after !== v.label) === (v.attack !== undefined)), 'a record names the member that broke it, and only then');

  // an image data set still refuses --save-examples in eval; --schema on a named data set is one line
  const bad = cli('attack', '--model', model, '--dataset', 'nsl-kdd', '--schema', schema, '--n', '5', '--backend', 'cpu');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr.trim(), /^advtrain: error: --schema applies to csv:FILE tables, not nsl-kdd/);
});

const KDD = join(sharedDataDir(), 'nsl-kdd', 'KDDTest+.txt');
const PHISHING = join(sharedDataDir(), 'phishing-websites', 'Training_Dataset.arff');
const skip = !existsSync(KDD) || !existsSync(PHISHING) ? 'shared data folder not found (set ADVTRAIN_DATA)' : false;

test('nsl-kdd (NSL-KDD lines) and phishing (ARFF): attack → save → predict agrees on every record, every record valid', { skip }, async () => {
  await selectBackend('cpu');
  const dir = mkdtempSync(join(tmpdir(), 'advtrain-tabsave-'));
  for (const [name, file, attack] of [['nsl-kdd', 'adv.txt', 'caa'], ['phishing', 'adv.arff', 'moeva']] as const) {
    const splits = await loadDataset(name);
    const test = splits.test as TabularDataset;
    const model = join(dir, name);
    const net = buildZooModel('mlp', { inputShape: test.shape, numClasses: test.numClasses, seed: 1 });
    await saveModel(model, net, { inputShape: test.shape, numClasses: test.numClasses, domain: { lower: 0, upper: 1 }, output: 'logits', classNames: test.classNames, files: modelFilesFor(test) });
    net.dispose();
    const path = join(dir, file);
    const params = attack === 'caa' ? '{"steps":8,"population":8,"generations":4}' : '{"population":8,"generations":6}';
    ok(cli('attack', '--model', model, '--dataset', name, '--attack', attack, '--params', params, '--n', '40', '--save-examples', path, '--backend', 'cpu'));
    const text = readFileSync(path, 'utf8');
    if (name === 'nsl-kdd') assert.match(text.split('\n')[0]!, /^\d+,(tcp|udp|icmp),[a-zA-Z0-9_]+,[A-Z0-9]+,\d+,\d+,.*,\d\.\d\d,[a-z_.]+,\d+$/);
    else assert.match(text, /^@relation phishing\n[\s\S]*@attribute Result \{-1,1\}\n\n@data\n/);
    await checkSaved(path, model, test, name);
  }
});

test('predict picks the tabular reader only for a model with tabular.json; image and text models read as before', () => {
  const dir = mkdtempSync(join(tmpdir(), 'advtrain-readers-'));
  const [tabularModel, imageModel] = [join(dir, 'tab'), join(dir, 'img')];
  mkdirSync(tabularModel);
  mkdirSync(imageModel);
  writeFileSync(join(tabularModel, 'tabular.json'), '{}');
  for (const f of ['adv.txt', 'adv.csv', 'adv.arff', 'x.png', 'x.idx', 'm.jsonl']) writeFileSync(join(dir, f), '');
  for (const f of ['adv.txt', 'adv.csv', 'adv.arff']) assert.equal(pickReader(join(dir, f), 'features', tabularModel).name, 'tabular records', f);
  assert.equal(pickReader(join(dir, 'x.idx'), 'features', imageModel).name, 'IDX');
  assert.equal(pickReader(join(dir, 'x.png'), 'features', imageModel).name, 'PNG');
  assert.equal(pickReader(join(dir, 'adv.txt'), 'text', imageModel).name, 'text lines');
  assert.equal(pickReader(join(dir, 'm.jsonl'), 'text', tabularModel).name, 'JSONL', 'the tabular reader produces features only');
  const refused = (path: string, model: string, re: RegExp) =>
    assert.throws(() => pickReader(join(dir, path), 'features', model), (e: unknown) => e instanceof UserError && re.test(e.message) && !e.message.includes('\n'), re.source);
  refused('adv.csv', imageModel, /adv\.csv is CSV input, which a features model cannot read: this model reads PNG, IDX$/);
  refused('adv.txt', imageModel, /adv\.txt is text lines input, which a features model cannot read: this model reads PNG, IDX$/);
  refused('x.png', tabularModel, /x\.png is PNG input, which a tabular model cannot read: this model reads tabular records$/);
});
