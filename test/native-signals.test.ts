/**
 * Signals during native compute. oneDNN 2.x's JIT f32 GEMM points the stack pointer into the heap
 * while it runs, so a signal handled on that thread wrote its frame into the heap: `node --cpu-prof`
 * (SIGPROF every sampling interval) aborted every run of a few thousand matmuls with "corrupted
 * size vs. prev_size" or a segmentation fault. The engine now keeps asynchronous signals off its
 * threads while they compute (native/common.h); this runs the case that crashed, in a child process.
 * Skipped when the addon is not built, unless ADVTRAIN_REQUIRE_NATIVE=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { nativeSuite } from './native-harness.js';

const backendModule = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '../src/engine/backend.js')).href;

const CHILD = `
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '${backendModule}';
const info = await selectBackend('native', { threads: 2 });
if (info.name !== 'native') throw new Error(info.reason);
const a = tf.randomUniform([64, 784], 0, 1, 'float32', 1);
const w = tf.randomUniform([784, 256], -1, 1, 'float32', 2);
let s = 0;
for (let i = 0; i < 2000; i++) s += tf.tidy(() => tf.sum(tf.relu(tf.matMul(a, w))).dataSync()[0]);
console.log(Number.isFinite(s) ? 'ok' : 'not finite');
`;

nativeSuite('native compute under signals', () => {
  test('2,000 oneDNN matmuls under node --cpu-prof (a SIGPROF every 100 µs) finish with the right exit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'advtrain-prof-'));
    try {
      const r = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-interval', '100', '--cpu-prof-dir', dir, '--input-type=module', '-e', CHILD], {
        cwd: join(dirname(fileURLToPath(import.meta.url)), '../..'),
        encoding: 'utf8',
        timeout: 120_000,
      });
      assert.equal(r.signal, null, `the profiled process died of ${r.signal}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), 'ok');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
