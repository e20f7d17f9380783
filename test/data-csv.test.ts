import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../src/errors.js';
import { loadCsv, loadDataset, parseCsv, unscaleFeatures } from '../src/data/index.js';

const oneLineUserError = (pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
  assert.match(e.message, pattern);
  assert.ok(!e.message.includes('\n'));
  return true;
};

test('parseCsv: quotes, escaped quotes, CRLF, multi-line fields, blank lines', () => {
  const recs = parseCsv('\ufeffa,b,c\r\n1,"x, ""y""",z\r\n\r\n2,"multi\nline",\n3,,"q"');
  assert.deepEqual(recs, [
    { fields: ['a', 'b', 'c'], line: 1 },
    { fields: ['1', 'x, "y"', 'z'], line: 2 },
    { fields: ['2', 'multi\nline', ''], line: 4 },
    { fields: ['3', '', 'q'], line: 6 },
  ]);
  assert.throws(() => parseCsv('a,b\n1,"open\n', 'f.csv'), oneLineUserError(/f\.csv line 2: a quoted field is never closed/));
  assert.throws(() => parseCsv('a\n"x"y\n', 'f.csv'), oneLineUserError(/line 2: unexpected "y" after a closing quote/));
});

test('loadCsv: numeric + categorical columns round trip, label by name, scaling kept', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'advtrain-csv-'));
  try {
    const p = join(dir, 'flows.csv');
    writeFileSync(
      p,
      [
        'bytes,proto,"note, free text",attack,duration',
        '100,tcp,"said ""hi""",normal,1.5',
        '300,udp,plain,dos,0.5',
        '200,"tcp",plain,normal,2.5',
        '500,icmp,"a,b",probe,1.5',
      ].join('\r\n') + '\r\n',
    );
    const ds = loadCsv(p, { labelColumn: 'attack' });
    assert.equal(ds.name, 'flows.csv');
    assert.equal(ds.n, 4);
    assert.deepEqual(ds.classNames, ['dos', 'normal', 'probe']);
    assert.deepEqual(Array.from(ds.y), [1, 0, 1, 2]);
    assert.deepEqual(ds.encoding.featureNames, [
      'bytes',
      'proto=icmp',
      'proto=tcp',
      'proto=udp',
      'note, free text=a,b',
      'note, free text=plain',
      'note, free text=said "hi"',
      'duration',
    ]);
    assert.deepEqual(ds.shape, [8]);
    assert.equal(ds.numClasses, 3);
    assert.deepEqual(Array.from(ds.x.subarray(0, 8)), [0, 0, 1, 0, 0, 0, 1, 0.5]);
    assert.deepEqual(Array.from(ds.x.subarray(8, 16)), [0.5, 0, 0, 1, 0, 1, 0, 0]);
    assert.deepEqual(Array.from(ds.encoding.min), [100, 0, 0, 0, 0, 0, 0, 0.5]);
    assert.deepEqual(Array.from(ds.encoding.max), [500, 1, 1, 1, 1, 1, 1, 2.5]);
    assert.ok(ds.x.every((v) => v >= 0 && v <= 1));
    assert.deepEqual(Array.from(ds.domain.upper as Float32Array), new Array(8).fill(1));
    assert.deepEqual(Array.from(unscaleFeatures(ds.encoding, ds.x.subarray(8, 16))), [300, 0, 0, 1, 0, 1, 0, 0.5]);
    assert.equal(ds.encoding.columns[1]!.kind, 'categorical');
    assert.deepEqual(ds.encoding.columns[1]!.categories, ['icmp', 'tcp', 'udp']);

    // default label column: the last one; numeric labels sort numerically
    writeFileSync(join(dir, 'num.csv'), 'f,cls\n1,10\n2,9\n3,10\n4,2\n5,9\n');
    const num = loadCsv(join(dir, 'num.csv'));
    assert.deepEqual(num.classNames, ['2', '9', '10']);
    assert.deepEqual(Array.from(num.y), [2, 1, 2, 0, 1]);

    const { train, test: t } = await loadDataset(join(dir, 'num.csv'), { testFraction: 0.4, seed: 1 });
    assert.equal(train.n + t.n, 5);
    assert.equal(t.n, 2);
    assert.equal(t.name, 'num.csv/test');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loadCsv: clear errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'advtrain-csv-err-'));
  const write = (name: string, text: string): string => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  try {
    assert.throws(() => loadCsv(join(dir, 'missing.csv')), oneLineUserError(/CSV file not found: .*missing\.csv/));
    assert.throws(() => loadCsv(write('empty.csv', '\n  \n')), oneLineUserError(/empty\.csv is empty/));
    assert.throws(() => loadCsv(write('head.csv', 'a,b\n')), oneLineUserError(/header but no data rows/));
    assert.throws(
      () => loadCsv(write('ragged.csv', 'a,b,label\n1,2,x\n3,4,y\n5,x\n')),
      oneLineUserError(/ragged\.csv line 4: expected 3 fields \(as in the header\) but found 2/),
    );
    assert.throws(
      () => loadCsv(write('lbl.csv', 'a,b\n1,2\n'), { labelColumn: 'class' }),
      oneLineUserError(/no label column "class"; choose one of: a, b/),
    );
    assert.throws(
      () => loadCsv(write('nan.csv', 'a,b\n1,x\n2,y\n3oops,z\n4,w\n')),
      oneLineUserError(/nan\.csv line 4, column "a": "3oops" is not a number/),
    );
    // forcing a mostly-numeric column to be categorical works
    const forced = loadCsv(join(dir, 'nan.csv'), { categorical: ['a'] });
    assert.equal(forced.shape[0], 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
