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

test("setVerbose switches oneDNN's per-primitive timing lines on and off, and refuses a bad level in one line", (t) => {
  const probe = `import(${JSON.stringify(addonModule)}).then((m) => {
    const r = m.loadNativeAddon();
    if (!r.ok) { console.log('unavailable: ' + r.reason); return; }
    const a = r.addon, heap = new Uint8Array(new WebAssembly.Memory({ initial: 1 }).buffer);
    // 2x3 · 3x2 at byte offsets 0, 64 and 128 of a zeroed heap
    const mm = () => a.matMul(heap, 0, 64, -1, 128, 1, 1, 2, 3, 2, 0, 0, 0);
    a.setVerbose(1); mm(); a.setVerbose(0); console.log('between'); mm();
    try { a.setVerbose(7); } catch (e) { console.log('error: ' + e.message); }
  })`;
  const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  if (r.stdout.startsWith('unavailable')) {
    if (process.env.ADVTRAIN_REQUIRE_NATIVE === '1') assert.fail(r.stdout);
    t.skip(r.stdout.trim());
    return;
  }
  const lines = r.stdout.trim().split('\n');
  const exec = lines.filter((l) => /^(onednn|dnnl)_verbose,exec,/.test(l));
  assert.equal(exec.length, 1, r.stdout);
  assert.ok(Number.isFinite(Number(exec[0]!.split(',').pop())), exec[0]);
  assert.ok(lines.indexOf(exec[0]!) < lines.indexOf('between'), 'a primitive ran after verbose was switched off printed a line');
  assert.match(lines.pop()!, /^error: advtrain native: verbose level must be 0, 1 or 2$/);
});
