import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { UserError } from '../src/errors.js';
import {
  encodeIdx,
  FASHION_MNIST_CLASSES,
  loadDataset,
  loadIdxPair,
  parseFashionClassFile,
  duplicateGroups,
  readFashionMnistRaw,
  readIdx,
  splitFashionMnist,
  type Dataset,
} from '../src/data/index.js';

function histogram(ds: Dataset): number[] {
  const h = new Array<number>(ds.numClasses).fill(0);
  for (const c of ds.y) h[c]!++;
  return h;
}

function range(x: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of x) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

test('MNIST loads 60,000/10,000 with the known label histograms and pixels in [0, 1]', async () => {
  const { train, test: t } = await loadDataset('mnist');
  assert.equal(train.n, 60000);
  assert.equal(t.n, 10000);
  assert.equal(train.name, 'mnist/train');
  assert.equal(t.name, 'mnist/test');
  assert.deepEqual(train.shape, [28, 28, 1]);
  assert.equal(train.x.length, 60000 * 784);
  assert.equal(t.x.length, 10000 * 784);
  assert.equal(train.numClasses, 10);
  assert.deepEqual(histogram(train), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
  assert.deepEqual(histogram(t), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  assert.deepEqual(range(train.x), [0, 1]);
  assert.deepEqual(range(t.x), [0, 1]);
  assert.deepEqual(train.domain, { lower: 0, upper: 1 });
});

function rowHashes(ds: Dataset): string[] {
  const out: string[] = [];
  for (let i = 0; i < ds.n; i++) {
    const row = ds.x.subarray(i * 784, (i + 1) * 784);
    out.push(createHash('sha1').update(new Uint8Array(row.buffer, row.byteOffset, row.byteLength)).digest('hex'));
  }
  return out;
}

test('Fashion-MNIST: seeded stratified 60,000/10,000 split, disjoint, deterministic', async () => {
  const { train, test: t } = await loadDataset('fashion-mnist');
  assert.equal(train.n, 60000);
  assert.equal(t.n, 10000);
  assert.deepEqual(train.shape, [28, 28, 1]);
  assert.deepEqual(train.classNames, [...FASHION_MNIST_CLASSES]);
  assert.equal(train.classNames[9], 'Ankle boot');
  assert.deepEqual(histogram(train), new Array(10).fill(6000));
  assert.deepEqual(histogram(t), new Array(10).fill(1000));
  assert.deepEqual(range(train.x), [0, 1]);
  // the test set is shuffled: its first 100 are not all one class
  assert.ok(new Set(t.y.subarray(0, 100)).size > 5);
  assert.ok(new Set(train.y.subarray(0, 100)).size > 5);

  // No image of train is in test. (Images duplicated inside the source files would be reported here too.)
  const trainSet = new Set(rowHashes(train));
  const shared = rowHashes(t).filter((h) => trainSet.has(h));
  assert.equal(shared.length, 0, `${shared.length} test images also appear in train`);

  const raw = readFashionMnistRaw();
  const again = splitFashionMnist(raw, 0);
  assert.deepEqual(again.train.y, train.y);
  assert.ok(Buffer.compare(Buffer.from(again.train.x.buffer), Buffer.from(train.x.buffer)) === 0);
  assert.ok(Buffer.compare(Buffer.from(again.test.x.buffer), Buffer.from(t.x.buffer)) === 0);
  const other = splitFashionMnist(raw, 1);
  assert.notDeepEqual(other.train.y, train.y);
  assert.notDeepEqual(other.test.y, t.y);
  assert.deepEqual(histogram(other.test), new Array(10).fill(1000));
  const otherTrain = new Set(rowHashes(other.train));
  assert.equal(rowHashes(other.test).filter((h) => otherTrain.has(h)).length, 0);
});

const isUserError = (pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
  assert.match(e.message, pattern);
  assert.ok(!e.message.includes('\n'), 'message is one line');
  return true;
};

test('IDX reader: round trip for every dtype, gzip, and clear errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'advtrain-idx-'));
  try {
    for (const dtype of ['uint8', 'int8', 'int16', 'int32', 'float32', 'float64'] as const) {
      const values = dtype === 'uint8' ? [0, 7, 255, 3, 4, 5] : dtype === 'int8' ? [-128, 0, 127, 1, 2, 3] : [-3, 1.5, 2, 1000, -7, 0];
      const data = dtype.startsWith('int') ? values.map(Math.trunc) : values;
      const p = join(dir, `${dtype}.idx`);
      writeFileSync(p, encodeIdx([2, 3], dtype, data));
      const f = readIdx(p);
      assert.deepEqual(f.dims, [2, 3]);
      assert.equal(f.dtype, dtype);
      assert.deepEqual(Array.from(f.data), data);
    }
    const img = encodeIdx([3, 2, 2], 'uint8', [0, 255, 0, 255, 1, 2, 3, 4, 9, 9, 9, 9]);
    const lbl = encodeIdx([3], 'uint8', [0, 2, 1]);
    writeFileSync(join(dir, 'img.gz'), gzipSync(img));
    writeFileSync(join(dir, 'lbl'), lbl);
    const ds = loadIdxPair(join(dir, 'img.gz'), join(dir, 'lbl'), 'tiny');
    assert.deepEqual(ds.shape, [2, 2, 1]);
    assert.equal(ds.numClasses, 3);
    assert.equal(ds.x[1], 1);

    assert.throws(() => readIdx(join(dir, 'nope')), isUserError(/not found: .*nope/));
    writeFileSync(join(dir, 'trunc'), img.subarray(0, img.length - 5));
    assert.throws(() => readIdx(join(dir, 'trunc')), isUserError(/truncated.*28 bytes.*23 bytes/));
    writeFileSync(join(dir, 'trail'), Buffer.concat([img, Buffer.from([1, 2])]));
    assert.throws(() => readIdx(join(dir, 'trail')), isUserError(/2 trailing bytes/));
    writeFileSync(join(dir, 'magic'), Buffer.from('hello world, not idx'));
    assert.throws(() => readIdx(join(dir, 'magic')), isUserError(/not an IDX file: bad magic 0x68656c6c/));
    writeFileSync(join(dir, 'fake.gz'), img);
    assert.throws(() => readIdx(join(dir, 'fake.gz')), isUserError(/not gzip/));
    writeFileSync(join(dir, 'lbl4'), encodeIdx([4], 'uint8', [0, 1, 2, 3]));
    assert.throws(() => loadIdxPair(join(dir, 'img.gz'), join(dir, 'lbl4'), 'x'), isUserError(/3 images but .* 4 labels/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loadDataset: idx specs and unknown names', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'advtrain-idxspec-'));
  try {
    const n = 20;
    writeFileSync(join(dir, 'i'), encodeIdx([n, 4], 'uint8', Array.from({ length: n * 4 }, (_, i) => i % 256)));
    writeFileSync(join(dir, 'l'), encodeIdx([n], 'uint8', Array.from({ length: n }, (_, i) => i % 2)));
    const two = await loadDataset(`idx:${join(dir, 'i')},${join(dir, 'l')}`, { testFraction: 0.25, seed: 3 });
    assert.equal(two.train.n, 15);
    assert.equal(two.test.n, 5);
    assert.deepEqual(two.train.shape, [4]);
    const four = await loadDataset(`idx:${join(dir, 'i')},${join(dir, 'l')},${join(dir, 'i')},${join(dir, 'l')}`);
    assert.equal(four.train.n, 20);
    assert.equal(four.test.n, 20);
    await assert.rejects(loadDataset('idx:onlyone'), isUserError(/2 or 4 comma-separated paths/));
    await assert.rejects(loadDataset('cifar10'), isUserError(/unknown data set "cifar10"; known: mnist, fashion-mnist/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Fashion-MNIST class-file parser: fast path, JSON fallback, entry filtering; duplicateGroups', () => {
  const row = (v: number): number[] => new Array<number>(784).fill(v);
  const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
  const compact = JSON.stringify({ data: [row(1), [], row(255), [1, 2, 3]] });
  const fast = parseFashionClassFile(enc(compact));
  assert.equal(fast.length, 2 * 784);
  assert.equal(fast[0], 1);
  assert.equal(fast[784], 255);
  const spaced = JSON.stringify({ data: [[], row(7), row(8)] }, null, 1); // whitespace everywhere
  const b = parseFashionClassFile(enc(spaced));
  assert.deepEqual([b.length, b[0], b[784]], [2 * 784, 7, 8]);
  // not plain integers: the JSON.parse fallback must agree
  const floats = compact.replace('[255,', '[255.0,');
  assert.deepEqual(parseFashionClassFile(enc(floats)), fast);
  assert.throws(() => parseFashionClassFile(enc('{"data": [[1,2'), 'x.json'), isUserError(/x\.json is not valid JSON/));
  assert.throws(
    () => parseFashionClassFile(enc(JSON.stringify({ data: [row(300)] })), 'y.json'),
    isUserError(/y\.json: image 0 pixel 0 is 300/),
  );
  assert.deepEqual(duplicateGroups(Uint8Array.from([1, 2, 3, 4, 1, 2, 5, 5, 3, 4, 1, 2]), 2), [
    [0, 2, 5],
    [1, 4],
  ]);
});
