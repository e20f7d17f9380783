/** The state file shared by `attack` and `eval`: round trip, settings refused by name, damage detected naming the file. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRunState, saveRunState } from '../src/eval/run-state.js';
import { UserError } from '../src/errors.js';

const labels = { what: 'evaluation', startOver: 'delete it' };

test('a run state round-trips its data and bytes, refuses other settings naming the option, and names a damaged file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'advtrain-state-'));
  try {
    const path = join(dir, 'out.json.state');
    const settings = { '--n': 60, '--threat': 'linf:0.1', '--seed': 0 };
    const blob = new Uint8Array(new Float32Array([0.5, -1, 3.25]).buffer);
    saveRunState(path, settings, { next: 20 }, blob);
    assert.deepEqual(readdirSync(dir), ['out.json.state'], 'one file, no temp left behind');
    assert.equal(loadRunState(join(dir, 'none'), settings, labels), undefined);
    const s = loadRunState<{ next: number }>(path, settings, labels)!;
    assert.deepEqual(s.data, { next: 20 });
    assert.deepEqual(Array.from(new Float32Array(s.blob.buffer, s.blob.byteOffset, 3)), [0.5, -1, 3.25]);

    const refusal = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        assert.ok(e instanceof UserError, String(e));
        assert.ok(!e.message.includes('\n'), 'one line');
        return e.message;
      }
      assert.fail('not refused');
    };
    assert.match(refusal(() => loadRunState(path, { ...settings, '--threat': 'linf:0.2' }, labels)), /was made with --threat linf:0\.1, not linf:0\.2: rerun with the same --threat to resume it, or delete it to start over/);
    assert.match(refusal(() => loadRunState(path, { ...settings, '--batch-size': 8 }, labels)), /was made with --batch-size \(none\), not 8/);

    const good = readFileSync(path);
    truncateSync(path, statSync(path).size - 1);
    assert.ok(refusal(() => loadRunState(path, settings, labels)).startsWith(`evaluation state ${path} is truncated`));
    const flipped = Buffer.from(good);
    flipped[flipped.length - 5]! ^= 1;
    writeFileSync(path, flipped);
    assert.ok(refusal(() => loadRunState(path, settings, labels)).startsWith(`evaluation state ${path} is corrupt (its checksum`));
    writeFileSync(path, '{"fingerprint":"an old-format state"}');
    assert.ok(refusal(() => loadRunState(path, settings, labels)).startsWith(`evaluation state ${path} is not a state file`));
    writeFileSync(path, good.toString('latin1').replace('"version":1', '"version":9'), 'latin1');
    assert.match(refusal(() => loadRunState(path, settings, labels)), /of format version 9/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
