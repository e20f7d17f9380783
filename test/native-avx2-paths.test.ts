/**
 * On an AVX-512 machine, the native kernels' AVX2 paths (few-channel and sparse convolution
 * gradients, the row sums) would go untested: this reruns the convolution and kernel suites in a
 * child process with ADVTRAIN_NATIVE_AVX2_ONLY=1, which makes the addon take them. Elsewhere the
 * suites already run on AVX2 (or the kernels are off), so there is nothing to add.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loaded } from './native-harness.js';

const avx512 = loaded.ok && loaded.addon.info().isa.startsWith('avx512');
const here = dirname(fileURLToPath(import.meta.url));

test('the AVX2 paths of the convolution kernels equal cpu on an AVX-512 machine too', { skip: avx512 ? false : 'no AVX-512 here: the suites run the AVX2 paths already' }, () => {
  const r = spawnSync(process.execPath, ['--test', join(here, 'native-conv.test.js'), join(here, 'native-kernels.test.js')], {
    encoding: 'utf8',
    env: { ...process.env, ADVTRAIN_NATIVE_AVX2_ONLY: '1', ADVTRAIN_REQUIRE_NATIVE: '1' },
  });
  assert.equal(r.status, 0, `the suites failed on the AVX2 paths:\n${r.stdout.split('\n').filter((l) => /^\s*not ok|error:/.test(l)).join('\n')}`);
  assert.match(r.stdout, /^# pass [1-9]/m);
});
