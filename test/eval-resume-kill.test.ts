/**
 * The evaluation's resume guarantee on the real path: `advtrain eval --json OUT` SIGKILLed after
 * its first attack's state is saved (OUT.json.state), then rerun, writes the same JSON as a run
 * never killed (apart from wall-clock fields, the creation date and the recorded command line).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './kill-cli.js';

/** The eval JSON without what measures the clock, and without the recorded command line (its --json path differs). */
function withoutClock(path: string): string {
  const drop = new Set(['time_s', 'created', 'seconds', 'command']);
  return JSON.stringify(JSON.parse(readFileSync(path, 'utf8'), (k, v) => (drop.has(k) ? undefined : v)));
}

test('eval killed after its first attack saved its state resumes to the same JSON as an uninterrupted run', () => {
  const root = mkdtempSync(join(tmpdir(), 'advtrain-eval-kill-'));
  try {
    const model = join(root, 'm');
    const t = cli(['train', '--dataset', 'mnist', '--model', 'mlp', '--epochs', '1', '--n', '200', '--backend', 'wasm', '--out', model]);
    assert.equal(t.status, 0, t.stderr);
    const evalArgs = (json: string) => ['eval', '--model', model, '--dataset', 'mnist', '--threat', 'linf:0.1', '--preset', 'quick', '--n', '60', '--no-checks', '--backend', 'wasm', '--json', json];
    const ref = join(root, 'ref.json');
    const r = cli(evalArgs(ref));
    assert.equal(r.status, 0, r.stderr);
    const out = join(root, 'b.json');
    const k = cli(evalArgs(out), 'eval-chunk:1');
    assert.equal(k.signal, 'SIGKILL', k.stderr);
    assert.ok(existsSync(`${out}.state`) && !existsSync(out), 'a killed evaluation keeps its state and writes no result');
    const again = cli(evalArgs(out));
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /resuming the evaluation/);
    assert.equal(withoutClock(out), withoutClock(ref));
    assert.ok(!existsSync(`${out}.state`), 'the state is removed once the result is written');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
