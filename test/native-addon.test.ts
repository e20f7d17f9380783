/**
 * Loading the native engine: a missing or disabled addon is a one-line reason that says how to
 * enable it, never an exception; the build script never fails an install.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';

const here = dirname(fileURLToPath(import.meta.url));
/** The package root (this file runs from build/test/). */
const root = [join(here, '..', '..'), join(here, '..')].find((d) => existsSync(join(d, 'native', 'binding.gyp')))!;
const addonModule = join(root, 'build', 'src', 'engine', 'native', 'addon.js');

/** Runs loadNativeAddon() in a fresh process with `env` and returns its answer. */
function loadWith(env: Record<string, string>): { ok: boolean; reason?: string } {
  const code = `import(${JSON.stringify(addonModule)}).then((m) => { const r = m.loadNativeAddon(); console.log(JSON.stringify({ ok: r.ok, reason: r.reason })); })`;
  const r = spawnSync(process.execPath, ['-e', code], { env: { ...process.env, ...env }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

test('ADVTRAIN_NATIVE=0 turns the native engine off with a one-line reason', () => {
  const r = loadWith({ ADVTRAIN_NATIVE: '0' });
  assert.equal(r.ok, false);
  assert.match(r.reason!, /ADVTRAIN_NATIVE=0/);
  assert.ok(!r.reason!.includes('\n'));
});

test('a missing addon is a one-line reason that says how to enable the fast engine', () => {
  const r = loadWith({ ADVTRAIN_NATIVE_PATH: join(root, 'native', 'no-such-addon.node') });
  assert.equal(r.ok, false);
  assert.ok(!r.reason!.includes('\n'));
  assert.match(r.reason!, /npm rebuild advtrain/);
});

test('the build script never fails: skipped on request with one line, exit 0', () => {
  const r = spawnSync(process.execPath, [join(root, 'native', 'build.mjs')], { env: { ...process.env, ADVTRAIN_SKIP_NATIVE: '1' }, encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.equal(r.stdout.trim().split('\n').length, 1);
  assert.match(r.stdout, /running on wasm/);
});
