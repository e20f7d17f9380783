import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { TFJS_PIN, tfjsPinMismatch, loadedTfjsPinMismatch } from '../src/engine/tfjs-pin.js';

const root = new URL('../../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { dependencies: Record<string, string> };
const tfjsDeps = Object.entries(pkg.dependencies).filter(([name]) => name.startsWith('@tensorflow/'));

test('package.json pins every @tensorflow package to exactly the version the kernels rely on', () => {
  assert.ok(tfjsDeps.length >= 5, 'core, layers, converter, cpu and wasm backends');
  for (const [name, range] of tfjsDeps) assert.equal(range, TFJS_PIN, `${name} must be pinned to ${TFJS_PIN} (no ^ or ~)`);
});

test('the installed tfjs packages are the pinned version', () => {
  const require = createRequire(new URL('package.json', root));
  for (const [name] of tfjsDeps) {
    const installed = JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string };
    assert.equal(installed.version, TFJS_PIN, name);
  }
  assert.equal(tf.version_core, TFJS_PIN);
  assert.equal(loadedTfjsPinMismatch(), undefined);
});

test('another tfjs version turns the native engine off with one line saying why and how to fix it', () => {
  assert.equal(tfjsPinMismatch({ core: TFJS_PIN, wasm: TFJS_PIN }), undefined);
  const why = tfjsPinMismatch({ core: '4.23.0', wasm: TFJS_PIN })!;
  assert.match(why, /needs tfjs 4\.22\.0/);
  assert.match(why, /tfjs-core 4\.23\.0/);
  assert.match(why, /npm ci/);
  assert.ok(!why.includes('\n'));
});
