// The shipped tabular data and schemas: every declared relation holds on every record of the
// three NSL-KDD files and the phishing file; encoding round trips; records are written back in
// the files' own formats; malformed records are refused in one line naming line and field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/engine/backend.js';
import { UserError } from '../src/errors.js';
import { infeasibility, repair } from '../src/data/domain.js';
import { Rng } from '../src/data/rng.js';
import { repairRelations } from '../src/tabular/relation-repair.js';
import { knownDatasets, loadDataset } from '../src/data/index.js';
import { TabularEncoding } from '../src/tabular/encoding.js';
import { loadSchema } from '../src/tabular/schema.js';
import { loadNslKdd, NSL_KDD_CATEGORIES, readNslKdd, shippedSchemaPath } from '../src/tabular/nsl-kdd.js';
import { loadPhishing, arffRecords } from '../src/tabular/phishing.js';
import { readArff } from '../src/tabular/arff.js';
import { formatRecords, readTabularRecords, writeTabularExamples } from '../src/tabular/raw-writer.js';
import { totalViolation } from '../src/tabular/compile.js';
import { recordInfeasibility, validityRate } from '../src/tabular/validate.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sharedDataDir, type TabularDataset } from '../src/tabular/tabular-dataset.js';

const KDD = join(sharedDataDir(), 'nsl-kdd');
const PHISHING = join(sharedDataDir(), 'phishing-websites', 'Training_Dataset.arff');
const KDD_FILES = { 'KDDTrain+_20Percent.txt': 25192, 'KDDTest+.txt': 22544, 'KDDTest-21.txt': 11850 };
const skip = !existsSync(join(KDD, 'KDDTest+.txt')) || !existsSync(PHISHING) ? 'shared data folder not found (set ADVTRAIN_DATA)' : false;

/** The first relation or domain rule a record breaks, for every record; fails naming the record. */
function assertAllFeasible(x: Float32Array, enc: TabularEncoding, where: (i: number) => string): void {
  const dom = enc.domain();
  assert.ok(dom.relations!.length >= 3);
  for (let i = 0; i < x.length / enc.d; i++) {
    const why = infeasibility(dom, x.subarray(i * enc.d, (i + 1) * enc.d));
    assert.equal(why, undefined, `${where(i)}: ${why}`);
  }
}

/** The violations of every relation on every `stride`-th record are exactly 0 (no tensors left behind). */
function assertZeroViolation(x: Float32Array, enc: TabularEncoding, stride: number): void {
  const before = tf.memory().numTensors;
  const n = x.length / enc.d;
  const rows = Array.from({ length: Math.ceil(n / stride) }, (_, k) => k * stride);
  const sample = new Float32Array(rows.length * enc.d);
  rows.forEach((i, k) => sample.set(x.subarray(i * enc.d, (i + 1) * enc.d), k * enc.d));
  const t = tf.tensor2d(sample, [rows.length, enc.d]);
  const total = totalViolation(enc.domain(), t);
  assert.deepEqual(total.shape, [rows.length]);
  const totalMax = tf.max(total);
  assert.equal(totalMax.dataSync()[0], 0);
  tf.dispose([total, totalMax]);
  for (const r of enc.domain().relations!) {
    const v = r.violation(t);
    const max = tf.max(v);
    assert.equal(max.dataSync()[0], 0, `${r.name}: violation on a record of the data`);
    tf.dispose([v, max]);
  }
  t.dispose();
  assert.equal(tf.memory().numTensors, before);
}

test('NSL-KDD: every declared relation holds on every record of all three files', { skip }, async () => {
  await selectBackend('cpu');
  const enc = new TabularEncoding(loadSchema(shippedSchemaPath('nsl-kdd')));
  assert.equal(enc.columns.length, 41);
  assert.equal(enc.d, 122);
  for (const [file, rowsExpected] of Object.entries(KDD_FILES)) {
    const path = join(KDD, file);
    const rows = readNslKdd(path, enc);
    assert.equal(rows.records.length, rowsExpected, file);
    const x = enc.encode(rows.records, (i) => `${file} line ${rows.lines[i]}`);
    assertAllFeasible(x, enc, (i) => `${file} line ${rows.lines[i]}`);
    assertZeroViolation(x, enc, 7);
    // written back, the parsed records give the file's text byte for byte
    assert.equal(formatRecords(enc, rows.records, rows.tails, 'lines'), readFileSync(path, 'utf8'), `${file} written back`);
  }
});

test('NSL-KDD: decode(encode(r)) is r on the grids (log-scaled counts within float32 resolution)', { skip }, () => {
  const { test: t } = loadNslKdd({});
  const enc = t.encoding;
  const rows = readNslKdd(join(KDD, 'KDDTest+.txt'), enc);
  const back = enc.decode(t.x);
  let inexact = 0;
  back.forEach((r, i) => {
    for (const c of enc.columns) {
      const a = r[c.name]!;
      const b = rows.records[i]![c.name]!;
      if (a === b) continue;
      assert.ok(c.scale === 'log' && Math.abs((a as number) - (b as number)) <= 4e-6 * (b as number), `line ${rows.lines[i]}, ${c.name}: ${a} ≠ ${b}`);
      inexact++;
    }
  });
  assert.ok(inexact < 50, `${inexact} log-scaled values beyond float32's whole-number range`);
  assert.deepEqual(enc.encode(back), t.x, 'the decoded records encode to the same model inputs');
  // written back as NSL-KDD lines, with each record's own label and difficulty
  const dir = mkdtempSync(join(tmpdir(), 'advtrain-kddw-'));
  const idx = [5, 0, 17];
  const x = new Float32Array(idx.length * enc.d);
  idx.forEach((i, k) => x.set(t.x.subarray(i * enc.d, (i + 1) * enc.d), k * enc.d));
  writeTabularExamples(join(dir, 'adv.txt'), t, x, idx);
  const original = readFileSync(join(KDD, 'KDDTest+.txt'), 'utf8').split('\n');
  assert.deepEqual(readFileSync(join(dir, 'adv.txt'), 'utf8').split('\n'), [...idx.map((i) => original[i]!), '']);
});

test('NSL-KDD: labels, categories and the 5-class variant', { skip }, async () => {
  const bin = await loadDataset('nsl-kdd');
  const five = await loadDataset('nsl-kdd-5');
  const train = bin.train as TabularDataset;
  assert.deepEqual(train.classNames, ['normal', 'attack']);
  assert.deepEqual(five.test.classNames, [...NSL_KDD_CATEGORIES]);
  // the README's counts per category
  const count = (ds: TabularDataset) => NSL_KDD_CATEGORIES.map((_, k) => ds.groups!.filter((g) => g === k).length);
  assert.deepEqual(count(train), [13449, 9234, 2289, 209, 11]);
  assert.deepEqual(count(bin.test as TabularDataset), [9711, 7458, 2421, 2887, 67]);
  assert.equal(train.y.filter((v) => v === 1).length, 11743);
  assert.deepEqual(Array.from(five.test.y.slice(0, 3)), [1, 1, 0]);
  assert.ok(knownDatasets().includes('nsl-kdd-21') && knownDatasets().includes('phishing'));
});

test('Phishing: relations hold on every row; duplicates removed; no feature vector on both sides of the split', { skip }, async () => {
  await selectBackend('cpu');
  const enc = new TabularEncoding(loadSchema(shippedSchemaPath('phishing')));
  const { records, labels, lines } = arffRecords(readArff(PHISHING), enc, 'Result', PHISHING);
  assert.equal(records.length, 11055);
  const x = enc.encode(records);
  assertAllFeasible(x, enc, (i) => `line ${lines[i]}`);
  assertZeroViolation(x, enc, 3);
  assert.equal(labels.filter((l) => l === '-1').length, 4898);
  const { train, test: held } = loadPhishing({ seed: 0 });
  assert.equal(train.n + held.n, 5849);
  assert.ok(Math.abs(held.n / 5849 - 0.2) < 0.02, `test share ${held.n / 5849}`);
  const vectors = (ds: TabularDataset) => new Set(Array.from({ length: ds.n }, (_, i) => ds.x.subarray(i * enc.d, (i + 1) * enc.d).join(',')));
  const a = vectors(train);
  for (const v of vectors(held)) assert.ok(!a.has(v), 'a test feature vector is also in train');
  assert.deepEqual(train.classNames, ['legitimate', 'phishing']);
  const again = loadPhishing({ seed: 0 });
  assert.deepEqual(again.test.lines, held.lines, 'same seed, same split');
  assert.notDeepEqual(loadPhishing({ seed: 1 }).test.lines, held.lines);
  // the attacker controls the page, not its reputation
  assert.equal(train.domain.immutable!.length, 7);
});

test('Phishing: records written as an ARFF file read back to the same model inputs', { skip }, () => {
  const { test: held } = loadPhishing({ seed: 0 });
  const enc = held.encoding;
  const dir = mkdtempSync(join(tmpdir(), 'advtrain-ph-'));
  const path = join(dir, 'adv.arff');
  writeTabularExamples(path, held, held.x, Array.from({ length: held.n }, (_, i) => i));
  const phishingOnly = Array.from({ length: held.n }, (_, i) => i).filter((i) => held.y[i] === 1).slice(0, 5);
  const x5 = new Float32Array(phishingOnly.length * enc.d);
  phishingOnly.forEach((i, k) => x5.set(held.x.subarray(i * enc.d, (i + 1) * enc.d), k * enc.d));
  writeTabularExamples(join(dir, 'five.arff'), held, x5, phishingOnly);
  assert.match(readFileSync(join(dir, 'five.arff'), 'utf8'), /\n@attribute Result \{-1,1\}\n/, 'the label keeps every class of the data set');
  assert.equal(readTabularRecords(join(dir, 'five.arff'), enc).tails.flat().join(), '-1,-1,-1,-1,-1');
  const back = readTabularRecords(path, enc);
  assert.deepEqual(back.x, held.x);
  assert.deepEqual(back.tails, held.tails);
  assert.match(readFileSync(path, 'utf8'), /^@relation phishing\n\n@attribute having_IP_Address \{-1,1\}\n@attribute URL_Length \{-1,0,1\}\n/);
});

test('malformed NSL-KDD records are refused in one line naming the line and the field', { skip }, () => {
  const enc = new TabularEncoding(loadSchema(shippedSchemaPath('nsl-kdd')));
  const dir = mkdtempSync(join(tmpdir(), 'advtrain-kdd-'));
  const lines = readFileSync(join(KDD, 'KDDTest+.txt'), 'utf8').split('\n').slice(0, 5);
  const bad = (edit: (fields: string[]) => void, pattern: RegExp) => {
    const copy = lines.map((l) => l.split(','));
    edit(copy[3]!);
    const path = join(dir, 'bad.txt');
    writeFileSync(path, copy.map((f) => f.join(',')).join('\n'));
    assert.throws(
      () => {
        const rows = readNslKdd(path, enc);
        enc.encode(rows.records, (i) => `${path} line ${rows.lines[i]}`);
      },
      (e: unknown) => e instanceof UserError && !e.message.includes('\n') && pattern.test(e.message),
      pattern.source,
    );
  };
  bad((f) => f.pop(), /bad\.txt line 4: expected 43 comma-separated fields .* but found 42/);
  bad((f) => (f[4] = 'many'), /bad\.txt line 4, field src_bytes: "many" is not a number/);
  bad((f) => (f[1] = 'sctp'), /bad\.txt line 4, field protocol_type: unknown category "sctp"/);
  bad((f) => (f[31] = '300'), /bad\.txt line 4, field dst_host_count: 300 lies outside \[0, 255\]/);
  bad((f) => (f[24] = '0.125'), /bad\.txt line 4, field serror_rate: 0.125 is not on the grid 0 \+ k·0.01/);
  bad((f) => (f[41] = 'nuke'), /bad\.txt line 4, field label: unknown attack name "nuke"/);
});

test('perturbed real records are brought back into the feasible set by the Domain repair and the relations’ repairs', { skip }, async () => {
  await selectBackend('cpu');
  const before = tf.memory().numTensors;
  for (const [name, load, noise] of [
    ['NSL-KDD', () => loadNslKdd({}).test, 0.6],
    ['phishing', () => loadPhishing({ seed: 0 }).test, 2.2],
  ] as const) {
    const ds = load();
    const d = ds.encoding.d;
    const n = 300;
    const clean = ds.x.slice(0, n * d);
    const rng = new Rng(7);
    const noisy = clean.map((v) => v + (rng.next() - 0.5) * noise);
    const xs = tf.tidy(() => repair(ds.domain, tf.tensor2d(noisy, [n, d]), tf.tensor2d(clean, [n, d])).dataSync() as Float32Array);
    let broken = 0;
    let moved = 0;
    for (let i = 0; i < n; i++) {
      const row = xs.subarray(i * d, (i + 1) * d);
      const c = clean.subarray(i * d, (i + 1) * d);
      if (ds.domain.relations!.some((r) => !r.holds(row))) broken++;
      assert.ok(repairRelations(ds.domain, row, c), `${name} record ${i}: ${infeasibility(ds.domain, row, c)}`);
      assert.equal(infeasibility(ds.domain, row, c), undefined);
      assert.equal(recordInfeasibility(ds.encoding, row, c), undefined, `${name} record ${i} decodes and re-validates`);
      if (row.some((v, k) => v !== c[k])) moved++;
    }
    assert.equal(validityRate(ds.encoding, clean).rate, 1);
    const raw = validityRate(ds.encoding, noisy, clean);
    assert.ok(raw.rate < 0.05 && raw.firstReason, `${name}: unrepaired noise is invalid (${raw.rate}, ${raw.firstReason})`);
    assert.ok(broken > n / 20 && moved > n / 2, `${name}: ${broken} broke a relation, ${moved} still differ from clean`);
  }
  assert.equal(tf.memory().numTensors, before);
});

test('CLI: csv:FILE needs --schema, and a bad schema is one line, exit 2, nothing written', { skip }, () => {
  const bin = fileURLToPath(new URL('../../bin/advtrain.js', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'advtrain-tabcli-'));
  writeFileSync(join(dir, 't.csv'), 'a,label\n1,x\n2,y\n');
  writeFileSync(join(dir, 's.json'), JSON.stringify({ format: 'advtrain/tabular-schema@1', name: 't', features: [{ name: 'a', type: 'integer', min: 0, max: 1 }] }));
  const run = (...args: string[]) => spawnSync(process.execPath, [bin, 'train', '--model', 'mlp', '--epochs', '1', '--out', join(dir, 'out'), ...args], { encoding: 'utf8' });
  const missing = run('--dataset', `csv:${join(dir, 't.csv')}`);
  assert.equal(missing.status, 2, missing.stderr);
  assert.match(missing.stderr.trim(), /^advtrain: error: data set "csv:.*t\.csv" needs a schema describing its features: pass --schema SCHEMA\.json/);
  const bad = run('--dataset', `csv:${join(dir, 't.csv')}`, '--schema', join(dir, 's.json'));
  assert.equal(bad.status, 2, bad.stderr);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /t\.csv line 3, field a: 2 lies outside \[0, 1\] declared in the schema/);
  assert.ok(!existsSync(join(dir, 'out')), 'nothing written');
});
