/** The first minutes of a user: the README's install line, npx without npm warnings, links that resolve in the repository. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, relative, resolve } from 'node:path';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

// npm itself, not npx: in a fresh clone `npx advtrain` installs the package into npx's cache, which
// runs its install script and rebuilds native/build under the other test files' feet.
test('npm reads the project config without warnings (no unknown .npmrc key), so npx advtrain prints none', () => {
  const r = spawnSync('npm', ['pkg', 'get', 'name'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), '"advtrain"');
  assert.doesNotMatch(r.stderr, /Unknown project config/);
});

test("a plain npm ci never runs onnxruntime-node's download: package.json denies its install script, README and CI install plainly", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
  assert.equal(pkg.allowScripts?.['onnxruntime-node'], false, 'package.json allowScripts');
  const install = README.split('\n').find((l) => /\bnpm ci\b/.test(l));
  assert.match(install ?? '', /^npm ci && npx advtrain demo\b/, 'first install line of the README');
  assert.match(readFileSync(join(ROOT, '.ci/run'), 'utf8'), /^npm ci$/m);
  // The variable stays the fallback for older npm: with it the script exits 0 before any request (a dead proxy stands in for no network).
  const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', GLOBAL_AGENT_HTTP_PROXY: 'http://127.0.0.1:9', GLOBAL_AGENT_HTTPS_PROXY: 'http://127.0.0.1:9' };
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/onnxruntime-node/script/install.js')], { env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
});

test('the README says how long the demo takes without the native engine and how to get it', () => {
  const top = README.slice(0, README.indexOf('## '));
  assert.match(top, /about 4 minutes on wasm/);
  assert.match(top, /`apt-get install libdnnl-dev g\+\+ make && npm rebuild advtrain`/);
});

test("the README's relative links stay inside the repository", () => {
  const links = [...README.matchAll(/\]\(([^)#\s]+)[^)]*\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/i.test(l));
  assert.ok(links.some((l) => l === 'docs/ARCHITECTURE.md'), 'the design notes link');
  for (const l of links) assert.ok(!relative(ROOT, resolve(ROOT, l)).startsWith('..'), `${l} points outside the repository`);
});
