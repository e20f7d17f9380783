// The tabular constraint language: schema checks, relations compiled to the Domain's Relation
// contract (holds / differentiable violation / repair), the reversible encoding, and one-line
// errors for malformed schemas, records and ARFF files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/engine/backend.js';
import { UserError } from '../src/errors.js';
import { infeasibility, repair } from '../src/data/domain.js';
import { Rng } from '../src/data/rng.js';
import { loadModel, saveModel } from '../src/model/io.js';
import { parseSchema, type TabularSchema } from '../src/tabular/schema.js';
import { TabularEncoding, type TabularRecord } from '../src/tabular/encoding.js';
import { repairRelations } from '../src/tabular/relation-repair.js';
import { totalViolation } from '../src/tabular/compile.js';
import { parseArff } from '../src/tabular/arff.js';
import { formatRecords, readTabularRecords } from '../src/tabular/raw-writer.js';
import { loadTabularCsv } from '../src/tabular/csv-tabular.js';
import { modelFilesFor } from '../src/tabular/tabular-dataset.js';

const TOY: TabularSchema = {
  format: 'advtrain/tabular-schema@1',
  name: 'toy',
  features: [
    { name: 'proto', type: 'categorical', categories: ['tcp', 'udp', 'icmp'] },
    { name: 'bytes', type: 'integer', min: 0, max: 100000, scale: 'log' },
    { name: 'packets', type: 'integer', min: 0, max: 50 },
    { name: 'rate', type: 'real', min: 0, max: 1, step: 0.01 },
    { name: 'err', type: 'real', min: 0, max: 1, step: 0.01 },
    { name: 'flag', type: 'binary' },
    { name: 'fixed', type: 'integer', min: 0, max: 9, mutable: false },
  ],
  relations: [
    { name: 'icmp-no-flag', expr: 'proto == "icmp" -> flag == 0' },
    { name: 'rates', expr: 'rate + err <= 1' },
    { name: 'bytes-per-packet', expr: 'bytes <= 1500 * (packets + 1)', tolerance: 0.5 },
    { name: 'empty', expr: 'not (packets >= 1) -> bytes == 0' },
    { name: 'arith', expr: 'log1p(bytes) - log(max(packets, 1)) >= -1 or proto in ("udp", "icmp")' },
    { name: 'counted', expr: 'count(flag == 1, rate > 0.5, err > 0.5) <= 2 and packets % 7 != 3 or packets ^ 2 >= 100' },
    { name: 'icmp-quiet', expr: 'proto == "icmp" -> packets == 0 and flag == 0 and rate <= 0.5 and 0.1 <= err and rate < 0.9 and packets != 3 and 0.05 < rate' },
    { name: 'sums', expr: 'sum(rate, err, flag) < 3 && min(rate, err) >= 0 && abs(-rate) == rate && div(err, packets, 0) <= 1' },
  ],
  attacker: { controls: ['bytes', 'packets', 'rate', 'err', 'flag', 'fixed'] },
};

const enc = new TabularEncoding(TOY);

/** Random raw records from a seeded generator, on every feature's grid (relations may or may not hold). */
function randomRecords(n: number, seed: number): TabularRecord[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => ({
    proto: ['tcp', 'udp', 'icmp'][rng.int(3)]!,
    bytes: rng.next() < 0.3 ? 0 : Math.floor(Math.exp(rng.next() * 11.5)),
    packets: rng.int(51),
    rate: rng.int(101) / 100,
    err: rng.int(101) / 100,
    flag: rng.int(2),
    fixed: rng.int(10),
  }));
}

test('encoding: layout, domain, and an exact round trip on the grids', () => {
  assert.equal(enc.d, 3 + 6);
  assert.deepEqual(enc.featureNames.slice(0, 4), ['proto=tcp', 'proto=udp', 'proto=icmp', 'bytes']);
  const dom = enc.domain();
  assert.deepEqual(dom.oneHot, [{ offset: 0, width: 3, name: 'proto' }]);
  // proto is not in the attacker's controls, fixed is immutable: both are immutable in the Domain
  assert.deepEqual(dom.immutable, [0, 1, 2, 8]);
  // linear grids become integer features in model-input units; the log-scaled bytes gets a grid relation
  assert.deepEqual(dom.integers!.map((g) => [g.index, Math.round(g.step * 1e6) / 1e6]), [[4, 0.02], [5, 0.01], [6, 0.01], [7, 1], [8, 0.111111]]);
  assert.equal(dom.relations!.length, TOY.relations!.length + 1);
  const records = randomRecords(300, 1);
  const x = enc.encode(records);
  assert.deepEqual(enc.decode(x), records);
  assert.deepEqual(enc.encode(enc.decode(x)), x);
  for (let i = 0; i < records.length; i++) {
    const why = infeasibility({ ...dom, relations: dom.relations!.slice(-1) }, x.subarray(i * enc.d, (i + 1) * enc.d));
    assert.equal(why, undefined, `record ${i}: ${why}`);
  }
});

test('relations: violation is 0 exactly where a relation holds, positive where not, and its gradient flows', async () => {
  await selectBackend('cpu');
  const before = tf.memory().numTensors;
  const records = randomRecords(400, 2);
  const x = enc.encode(records);
  const X = tf.tensor2d(x, [records.length, enc.d]);
  const dom = enc.domain();
  let held = 0;
  let broken = 0;
  for (const r of dom.relations!) {
    const v = r.violation(X);
    assert.deepEqual(v.shape, [records.length]);
    const vs = v.dataSync();
    v.dispose();
    for (let i = 0; i < records.length; i++) {
      const h = r.holds(x.subarray(i * enc.d, (i + 1) * enc.d));
      if (h) held++;
      else broken++;
      assert.equal(vs[i]! === 0, h, `${r.name} on record ${i} (${JSON.stringify(records[i])}): holds ${h}, violation ${vs[i]}`);
    }
  }
  assert.ok(held > 100 && broken > 100, `both cases are exercised (${held} held, ${broken} broken)`);
  // the whole domain's violation at once (shared decoding, simple atoms vectorised) is the sum of the parts
  const total = totalViolation(dom, X);
  const each = tf.tidy(() => tf.addN(dom.relations!.map((r) => r.violation(X))));
  const [tv, ev] = [total.dataSync(), each.dataSync()];
  for (let i = 0; i < records.length; i++) assert.ok(Math.abs(tv[i]! - ev[i]!) <= 1e-5 * (1 + ev[i]!), `record ${i}: total ${tv[i]} vs ${ev[i]}`);
  const gTotal = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(totalViolation(dom, t as tf.Tensor2D)))(X));
  const gEach = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.addN(dom.relations!.map((r) => r.violation(t as tf.Tensor2D)))))(X));
  const [gt, ge] = [gTotal.dataSync(), gEach.dataSync()];
  let off = 0;
  for (let i = 0; i < gt.length; i++) if (Math.abs(gt[i]! - ge[i]!) > 1e-4 * (1 + Math.abs(ge[i]!))) off++;
  // where an OR's parts tie, min's gradient follows whichever the float sums make smallest
  assert.ok(off <= gt.length / 100, `same gradient (${off} of ${gt.length} entries differ)`);
  tf.dispose([total, each, gTotal, gEach]);
  // gradient: an icmp record with flag 1 violates icmp-no-flag; the violation pulls flag down
  const rel = dom.relations!.find((r) => r.name === 'icmp-no-flag')!;
  const bad = enc.encode([{ proto: 'icmp', bytes: 10, packets: 1, rate: 0.5, err: 0.25, flag: 1, fixed: 3 }]);
  const g = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(rel.violation(t as tf.Tensor2D)))(tf.tensor2d(bad, [1, enc.d])).dataSync());
  // min(premise, conclusion) ties at 1: the gradient reaches at least one of them
  assert.ok(g[enc.columns[5]!.offset]! + g[2]! > 0, 'd violation / d (flag, proto=icmp) > 0');
  const sum = dom.relations!.find((r) => r.name === 'rates')!;
  const over = enc.encode([{ proto: 'tcp', bytes: 10, packets: 1, rate: 0.7, err: 0.6, flag: 0, fixed: 3 }]);
  const g2 = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(sum.violation(t as tf.Tensor2D)))(tf.tensor2d(over, [1, enc.d])).dataSync());
  assert.ok(g2[enc.columns[3]!.offset]! > 0 && g2[enc.columns[4]!.offset]! > 0, 'rate + err <= 1: both pulled down');
  X.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('repair: makes every relation hold, touching only features the attacker controls', async () => {
  await selectBackend('cpu');
  const dom = enc.domain();
  const records = randomRecords(200, 3);
  const x = enc.encode(records);
  let repaired = 0;
  for (let i = 0; i < records.length; i++) {
    const row = x.slice(i * enc.d, (i + 1) * enc.d);
    const clean = row.slice();
    const wasFeasible = infeasibility(dom, row) === undefined;
    assert.ok(repairRelations(dom, row), `record ${i} ${JSON.stringify(records[i])} repaired: ${infeasibility(dom, row)}`);
    assert.equal(infeasibility(dom, row, clean), undefined);
    if (!wasFeasible) repaired++;
    else assert.deepEqual(row, clean, 'a feasible record is left alone');
  }
  assert.ok(repaired > 20, `${repaired} records needed a repair`);
  // an off-grid log-scaled value is put back on its grid by the grid relation, then decodes exactly
  const row = enc.encode([{ proto: 'tcp', bytes: 1234, packets: 2, rate: 0.1, err: 0.1, flag: 0, fixed: 0 }]);
  row[3] = row[3]! + 3e-5;
  const grid = dom.relations!.at(-1)!;
  assert.equal(grid.holds(row), false);
  const t = tf.tensor2d(row, [1, enc.d]);
  const v = grid.violation(t);
  assert.ok(v.dataSync()[0]! > 0);
  tf.dispose([t, v]);
  assert.ok(grid.repair!(row) && grid.holds(row));
  // the Domain's own repair (box, grids, one-hot, immutables) composes with relation repair
  const noisy = tf.tensor2d(enc.encode(randomRecords(20, 4)).map((v, i) => v + (i % 3 === 0 ? 0.013 : -0.007)), [20, enc.d]);
  const r = repair(dom, noisy);
  const xs = r.dataSync() as Float32Array;
  for (let i = 0; i < 20; i++) {
    const one = xs.slice(i * enc.d, (i + 1) * enc.d);
    repairRelations(dom, one);
    assert.equal(infeasibility(dom, one), undefined);
  }
  tf.dispose([noisy, r]);
});

test('language: operators, precedence, implication, negation and safe division mean what they say', () => {
  const one = (expr: string, rec: Partial<TabularRecord>, tolerance?: number) => {
    const e = new TabularEncoding({ ...TOY, relations: [{ name: 'r', expr, ...(tolerance !== undefined ? { tolerance } : {}) }] });
    const x = e.encode([{ proto: 'tcp', bytes: 100, packets: 4, rate: 0.5, err: 0.25, flag: 0, fixed: 0, ...rec }]);
    return e.domain().relations![0]!.holds(x);
  };
  assert.equal(one('bytes / packets == 25', {}), true);
  assert.equal(one('bytes / packets == 0', { packets: 0 }), true, 'x / 0 is 0');
  assert.equal(one('div(bytes, packets, 7) == 7', { packets: 0 }), true);
  assert.equal(one('1 + 2 * 3 == 7 and (1 + 2) * 3 == 9 and -2 * -3 == 6 and 10 - 4 - 3 == 3', {}), true);
  assert.equal(one('rate < 0.5', {}), false);
  assert.equal(one('rate <= 0.5 and rate >= 0.5 and rate > 0.49', {}), true);
  assert.equal(one('rate == 0.6', {}, 0.1), true, 'tolerance');
  assert.equal(one('rate == 0.6', {}), false);
  assert.equal(one('rate != 0.5', {}), false);
  assert.equal(one('not (rate == 0.5 or err == 0.25)', {}), false);
  assert.equal(one('proto == "udp" -> bytes == 0', {}), true, 'a false premise');
  assert.equal(one('proto == "tcp" -> bytes == 0', {}), false);
  assert.equal(one('proto != "tcp" or proto not in ("tcp", "udp") or proto in ["tcp"]', {}), true);
  assert.equal(one('log(bytes) == log1p(bytes - 1) and abs(0 - bytes) == max(bytes, 1, 2) and min(1, 2, 3) == 1', {}), true);
  assert.equal(one('rate + err < 0.75 || flag == 1', {}), false);
  assert.equal(one('2 ^ 3 ^ 2 == 512 and -2 ^ 2 == -4 and (-2) ^ 2 == 4 and 2 ^ -1 == 0.5 and packets ^ 0.5 == 2 and 2 * 3 ^ 2 == 18', {}), true, '^ is right-associative and binds tighter than * and unary minus');
  assert.equal(one('packets % 3 == 1 and -packets % 3 == 2 and packets % 0 == 0 and 7 % 2 * 3 == 3', {}), true, '% takes the divisor\'s sign; % 0 is 0');
  assert.equal(one('count(rate == 0.5, err == 0.5, flag == 0, proto == "tcp") == 3', {}), true);
  assert.equal(one('count(rate > 0.9) + 1 == 1 and count((rate > 0.9) or (err < 0.3)) == 1', {}), true);
  assert.equal(one('log(bytes - 100, -5) == -5 and log(bytes) > 4.6', {}), true, "log's value where x ≤ 0");
});

test('schema: every mistake is one line naming the field', () => {
  const bad = (mutate: (s: Record<string, unknown>) => void, pattern: RegExp) => {
    const s = JSON.parse(JSON.stringify(TOY)) as Record<string, unknown>;
    mutate(s);
    assert.throws(
      () => new TabularEncoding(parseSchema(s, 's.json')),
      (e: unknown) => e instanceof UserError && !e.message.includes('\n') && pattern.test(e.message),
      pattern.source,
    );
  };
  const f = (s: Record<string, unknown>) => s.features as Record<string, unknown>[];
  const r = (s: Record<string, unknown>) => s.relations as Record<string, unknown>[];
  bad((s) => (s.format = 'x'), /^s\.json: format: expected "advtrain\/tabular-schema@1"/);
  bad((s) => (f(s)[1]!.type = 'float'), /^s\.json: features\[1\]\.type: expected one of binary, integer, real, categorical/);
  bad((s) => (f(s)[2]!.max = -1), /^s\.json: features\[2\]\.max: max -1 is below min 0/);
  bad((s) => (f(s)[2]!.colour = 1), /^s\.json: features\[2\]\.colour: unknown key/);
  bad((s) => (f(s)[3]!.name = 'proto'), /features\[3\]\.name: "proto" is declared twice/);
  bad((s) => (f(s)[0]!.categories = ['tcp', 'tcp']), /features\[0\]\.categories: "tcp" is listed twice/);
  bad((s) => (r(s)[1]!.expr = 'rate + <= 1'), /^s\.json: relations\[1\]\.expr: column 8: expected a number, a feature or "\(" but found "<="/);
  bad((s) => (r(s)[1]!.expr = 'rate + err'), /relations\[1\]\.expr: column 11: expected a comparison/);
  bad((s) => (r(s)[1]!.expr = 'rates <= 1'), /relations\[1\]\.expr \(rates\): unknown feature "rates"/);
  bad((s) => (r(s)[0]!.expr = 'proto == "gre" -> flag == 0'), /relations\[0\]\.expr \(icmp-no-flag\): "gre" is not a category of proto/);
  bad((s) => (r(s)[0]!.expr = 'proto <= 1'), /"proto" is categorical: compare it with a category/);
  bad((s) => (r(s)[0]!.expr = 'foo(rate) <= 1'), /unknown function "foo"/);
  bad((s) => ((s.attacker as Record<string, unknown>).controls = ['nope']), /^s\.json: attacker\.controls\[0\]: "nope" is not a declared feature/);
});

test('records: a bad value is refused in one line naming the row and the field', () => {
  const ok: TabularRecord = { proto: 'tcp', bytes: 100, packets: 4, rate: 0.5, err: 0.25, flag: 0, fixed: 0 };
  const bad = (rec: Partial<TabularRecord>, pattern: RegExp) =>
    assert.throws(() => enc.encode([ok, { ...ok, ...rec } as TabularRecord]), (e: unknown) => e instanceof UserError && !e.message.includes('\n') && pattern.test(e.message), pattern.source);
  bad({ proto: 'gre' }, /^row 2, field proto: unknown category "gre"/);
  bad({ packets: 51 }, /^row 2, field packets: 51 lies outside \[0, 50\]/);
  bad({ rate: 0.505 }, /^row 2, field rate: 0.505 is not on the grid/);
  bad({ bytes: 'lots' }, /^row 2, field bytes: "lots" is not a number/);
  bad({ bytes: 1.5 }, /^row 2, field bytes: 1.5 is not on the grid/);
});

test('ARFF: parsed with its header; a malformed file is one line naming the line and attribute', () => {
  const good = '% comment\n@relation t\n@attribute a {-1,1}\n@attribute b numeric\n@attribute Result {-1,1}\n@data\n1,0.5,-1\r\n-1,2,1\n';
  const arff = parseArff(good, 'g.arff');
  assert.equal(arff.relation, 't');
  assert.deepEqual(arff.attributes.map((a) => a.kind), ['nominal', 'numeric', 'nominal']);
  assert.deepEqual(arff.rows, [{ fields: ['1', '0.5', '-1'], line: 7 }, { fields: ['-1', '2', '1'], line: 8 }]);
  const bad = (text: string, pattern: RegExp) =>
    assert.throws(() => parseArff(text, 'b.arff'), (e: unknown) => e instanceof UserError && !e.message.includes('\n') && pattern.test(e.message), pattern.source);
  bad(good.replace('-1,2,1', '0,2,1'), /^b\.arff line 8, attribute a: "0" is not one of \{-1,1\}/);
  bad(good.replace('-1,2,1', '-1,x,1'), /^b\.arff line 8, attribute b: "x" is not a number/);
  bad(good.replace('-1,2,1', '-1,2'), /^b\.arff line 8: expected 3 fields \(one per @attribute\) but found 2/);
  bad(good.replace('-1,2,1', '-1,?,1'), /^b\.arff line 8, attribute b: missing value "\?"/);
  bad(good.replace('@data\n', ''), /^b\.arff line 6: expected @relation, @attribute or @data/);
  bad('@relation t\n@attribute a {-1,1}\n', /^b\.arff: no @data section/);
  bad(good.replace('numeric', 'date'), /^b\.arff line 4, attribute b: unsupported type "date"/);
});

test('raw formats: records written as lines, CSV and ARFF read back to the same model inputs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'advtrain-tab-'));
  const records = randomRecords(30, 5);
  const x = enc.encode(records);
  const tails = records.map((_, i) => [i % 2 ? 'attack' : 'normal']);
  for (const [file, format] of [['r.txt', 'lines'], ['r.csv', 'csv'], ['r.arff', 'arff']] as const) {
    const path = join(dir, file);
    writeFileSync(path, formatRecords(enc, enc.decode(x), tails, format, ['label']));
    const back = readTabularRecords(path, enc);
    assert.equal(back.format, format);
    assert.deepEqual(back.x, x, file);
    assert.deepEqual(back.tails, tails, file);
  }
  assert.match(readFileSync(join(dir, 'r.txt'), 'utf8').split('\n')[0]!, /^(tcp|udp|icmp),\d+,\d+,\d\.\d\d,\d\.\d\d,[01],\d,(normal|attack)$/);
  // a user's table with a schema: csv:FILE --label-column label --schema S
  writeFileSync(join(dir, 's.json'), JSON.stringify(TOY));
  const { train, test: held } = loadTabularCsv(join(dir, 'r.csv'), { schema: join(dir, 's.json'), labelColumn: 'label', seed: 1 });
  assert.equal(train.n + held.n, 30);
  assert.deepEqual(train.classNames, ['attack', 'normal']);
  assert.equal(held.domain.relations!.length, TOY.relations!.length + 1);
  writeFileSync(join(dir, 'bad.csv'), readFileSync(join(dir, 'r.csv'), 'utf8').replace(/\n(tcp|udp|icmp),/, '\ngre,'));
  assert.throws(() => loadTabularCsv(join(dir, 'bad.csv'), { schema: join(dir, 's.json') }), /^UserError: .*bad\.csv line 2, field proto: unknown category "gre"/);
});

test('a saved tabular model carries tabular.json and is loaded with its own feasible set', async () => {
  await selectBackend('cpu');
  const dir = join(mkdtempSync(join(tmpdir(), 'advtrain-tabm-')), 'm');
  const model = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [enc.d], units: 2 })] });
  const ds = { encoding: enc } as unknown as Parameters<typeof modelFilesFor>[0];
  await saveModel(dir, model, { inputShape: [enc.d], numClasses: 2, domain: { lower: 0, upper: 1 }, output: 'logits', files: modelFilesFor(ds) });
  assert.equal((JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { userDefinedMetadata: { advtrain: { files?: unknown } } }).userDefinedMetadata.advtrain.files, undefined);
  const loaded = await loadModel(dir);
  assert.ok(loaded.tabular);
  assert.deepEqual(loaded.tabular.schema, TOY);
  const dom = loaded.classifier.domain;
  assert.equal(dom.relations!.length, TOY.relations!.length + 1);
  assert.deepEqual(dom.immutable, [0, 1, 2, 8]);
  writeFileSync(join(dir, 'tabular.json'), '{"format":"advtrain/tabular-encoding@1","schema":{"format":"advtrain/tabular-schema@1","name":"x","features":[]}}');
  await assert.rejects(loadModel(dir), /tabular\.json \(schema\): features: expected a non-empty array/);
  model.dispose();
  (loaded.layers as { model?: tfl.LayersModel } | undefined)?.model?.dispose();
});
