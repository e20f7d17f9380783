/**
 * The attack command's resume guarantee on the real path: `advtrain attack --json OUT` SIGKILLed
 * after its first chunk's state is saved (OUT.state), then rerun, writes the same JSON (apart
 * from wall-clock fields and the creation date) and the same --save-examples files, byte for
 * byte, as a run never killed — which saved its state only at the end, so chunking changes
 * nothing either — on wasm, and on native where the addon is built. A state made with other
 * settings, or damaged, is refused in one line.
 */
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNativeAddon } from '../src/engine/native/addon.js';
import { cli } from './kill-cli.js';

/** The attack JSON without what measures the clock. */
function withoutClock(path: string): string {
  const drop = new Set(['time_s', 'created']);
  return JSON.stringify(JSON.parse(readFileSync(path, 'utf8'), (k, v) => (drop.has(k) ? undefined : v)));
}

/** Every file of a folder, by name, as bytes. */
/** The error lines of a run's stderr (the rest is progress log). */
function errors(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('advtrain: error'));
}

function files(dir: string): Map<string, Buffer> {
  return new Map(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f))]));
}

let root: string;
let model: string;
/** 60 examples in batches of 10: with --checkpoint-every 2, three chunks of 20. */
const attackArgs = (json: string, extra: string[] = [], backend = 'wasm') => [
  'attack', '--model', model, '--dataset', 'mnist', '--attack', 'pgd', '--steps', '5', '--restarts', '2', '--threat', 'linf:0.1',
  '--n', '60', '--batch-size', '10', '--seed', '4', '--backend', backend, '--json', json, ...extra,
];

const loaded = loadNativeAddon();
const engines: [string, boolean | string][] = [
  ['wasm', false],
  ['native', loaded.ok || process.env.ADVTRAIN_REQUIRE_NATIVE === '1' ? false : `native engine unavailable: ${loaded.reason}`],
];

before(() => {
  root = mkdtempSync(join(tmpdir(), 'advtrain-attack-kill-'));
  model = join(root, 'm');
  const t = cli(['train', '--dataset', 'mnist', '--model', 'mlp', '--epochs', '1', '--n', '200', '--backend', 'wasm', '--out', model]);
  assert.equal(t.status, 0, t.stderr);
});

after(() => rmSync(root, { recursive: true, force: true }));

for (const [backend, skip] of engines) {
  test(`attack on ${backend} killed after its first chunk resumes to the same JSON and saved examples as an uninterrupted run`, { skip }, () => {
    const ref = join(root, `ref-${backend}.json`);
    const refEx = join(root, `ref-${backend}-examples`);
    const r = cli(attackArgs(ref, ['--save-examples', refEx, '--keep', '30'], backend));
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!existsSync(`${ref}.state`), 'the state is removed once the result is written');

    const out = join(root, `b-${backend}.json`);
    const ex = join(root, `b-${backend}-examples`);
    const args = attackArgs(out, ['--save-examples', ex, '--keep', '30', '--checkpoint-every', '2'], backend);
    const k = cli(args, 'attack-chunk:1');
    assert.equal(k.signal, 'SIGKILL', k.stderr);
    assert.ok(existsSync(`${out}.state`) && !existsSync(out) && !existsSync(ex), 'a killed attack keeps its state and writes no result');
    const again = cli(args);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /resuming the attack saved in .* after 20 of 60 examples/);
    assert.equal(withoutClock(out), withoutClock(ref));
    const want = files(refEx);
    const got = files(ex);
    assert.deepEqual([...got.keys()], [...want.keys()]);
    assert.ok(want.size > 3, 'examples were saved');
    for (const [f, bytes] of want) assert.ok(got.get(f)!.equals(bytes), `${f} differs from the uninterrupted run's`);
    // The kept examples span more than the first chunk, so the resumed run had to restore and extend them.
    const kept = JSON.parse(readFileSync(join(ex, 'examples.json'), 'utf8')) as { index: number }[];
    assert.ok(kept.some((e) => e.index >= 20), 'kept examples come from after the kill too');
    assert.ok(!existsSync(`${out}.state`), 'the state is removed once the result is written');
  });
}

test('a state saved with other settings is refused in one line naming the option; --fresh starts over', () => {
  const out = join(root, 'c.json');
  const k = cli(attackArgs(out, ['--checkpoint-every', '2']), 'attack-chunk:1');
  assert.equal(k.signal, 'SIGKILL', k.stderr);
  const other = cli(attackArgs(out, ['--checkpoint-every', '2', '--seed', '5']));
  assert.notEqual(other.status, 0);
  assert.equal(errors(other.stderr).length, 1, other.stderr);
  const line = errors(other.stderr)[0]!;
  assert.match(line, /attack state .*c\.json\.state was made with --seed 4, not 5: rerun with the same --seed to resume it, or add --fresh/);
  assert.ok(!existsSync(out), 'nothing written');
  const fresh = cli(attackArgs(out, ['--seed', '5', '--fresh']));
  assert.equal(fresh.status, 0, fresh.stderr);
  assert.doesNotMatch(fresh.stderr, /resuming/);
  assert.ok(existsSync(out) && !existsSync(`${out}.state`));
});

test('a truncated or corrupt state is refused in one line naming the file', () => {
  const out = join(root, 'd.json');
  const state = `${out}.state`;
  const k = cli(attackArgs(out, ['--checkpoint-every', '2']), 'attack-chunk:1');
  assert.equal(k.signal, 'SIGKILL', k.stderr);
  const good = readFileSync(state);
  truncateSync(state, statSync(state).size - 7);
  const cut = cli(attackArgs(out, ['--checkpoint-every', '2']));
  assert.notEqual(cut.status, 0);
  assert.equal(errors(cut.stderr).length, 1, cut.stderr);
  assert.ok(cut.stderr.includes(`attack state ${state} is truncated`), cut.stderr);
  const flipped = Buffer.from(good);
  flipped[flipped.length - 1]! ^= 0xff;
  writeFileSync(state, flipped);
  const bad = cli(attackArgs(out, ['--checkpoint-every', '2']));
  assert.notEqual(bad.status, 0);
  assert.equal(errors(bad.stderr).length, 1, bad.stderr);
  assert.ok(bad.stderr.includes(`attack state ${state} is corrupt`), bad.stderr);
  writeFileSync(state, 'garbage');
  const junk = cli(attackArgs(out, ['--checkpoint-every', '2']));
  assert.notEqual(junk.status, 0);
  assert.ok(junk.stderr.includes(`attack state ${state} is corrupt or truncated`), junk.stderr);
  assert.ok(!existsSync(out), 'nothing written');
});
