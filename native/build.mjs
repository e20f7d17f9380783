#!/usr/bin/env node
// Builds the native engine (native/build/Release/advtrain_native.node) with node-gyp.
// Never fails: where the addon cannot be built (no compiler, no oneDNN headers), it prints one line
// saying why and how to enable the fast engine, and exits 0 — advtrain then runs on wasm.
//
//   node native/build.mjs            build (skipped when ADVTRAIN_SKIP_NATIVE=1)
//   node native/build.mjs --verbose  show the compiler output
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const verbose = process.argv.includes('--verbose');
const say = (msg) => console.log(`advtrain: ${msg}`);

if (process.env.ADVTRAIN_SKIP_NATIVE === '1') {
  say('native engine build skipped (ADVTRAIN_SKIP_NATIVE=1); running on wasm');
  process.exit(0);
}
if (process.platform !== 'linux' || process.arch !== 'x64') {
  say(`native engine not built (only linux-x64 is supported, this is ${process.platform}-${process.arch}); running on wasm`);
  process.exit(0);
}
const header = ['/usr/include/oneapi/dnnl/dnnl.hpp', '/usr/local/include/oneapi/dnnl/dnnl.hpp'].find((p) => existsSync(p));
if (!header) {
  say('native engine not built (libdnnl-dev missing): apt-get install libdnnl-dev && npm rebuild advtrain');
  process.exit(0);
}

/** node-gyp: the one npm runs scripts with, else the one bundled with npm, else the package. */
function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp, join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')];
  try {
    const req = createRequire(join(here, '..', 'package.json'));
    candidates.push(req.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    /* not installed as a package */
  }
  return candidates.find((p) => p && existsSync(p));
}
const nodeGyp = findNodeGyp();
if (!nodeGyp) {
  say('native engine not built (node-gyp not found; it ships with npm): npm rebuild advtrain');
  process.exit(0);
}

// Use the headers of the running node where they are installed next to it (no download).
const args = [nodeGyp, 'rebuild'];
const prefix = resolve(dirname(process.execPath), '..');
if (existsSync(join(prefix, 'include/node/node_api.h')) && existsSync(join(prefix, 'include/node/common.gypi'))) {
  args.push(`--nodedir=${prefix}`);
}
const r = spawnSync(process.execPath, args, { cwd: here, stdio: verbose ? 'inherit' : 'pipe', encoding: 'utf8' });
if (r.status !== 0) {
  const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  const firstError = out.split('\n').find((l) => /error|not found|No such/i.test(l))?.trim() ?? `exit ${r.status}`;
  say(`native engine not built (${firstError.slice(0, 160)}); run 'node native/build.mjs --verbose' to see why, then npm rebuild advtrain`);
  process.exit(0);
}
say('native engine built (native/build/Release/advtrain_native.node)');
