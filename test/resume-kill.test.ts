/**
 * Crash safety on the real path: the CLI runs as a subprocess, is SIGKILLed at chosen points
 * (ADVTRAIN_TEST_KILL_AT, see src/training/kill-point.ts), resumed with --resume, and must end
 * with the same weights.bin and metrics.jsonl, byte for byte, as a run that was never killed.
 * The only bytes that may differ are the two wall-clock fields of metrics.jsonl.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNativeAddon } from '../src/engine/native/addon.js';
import { loadCheckpoint } from '../src/training/checkpoint.js';
import { UserError } from '../src/errors.js';
import { cli } from './kill-cli.js';

/** A small FGSM-RS run with the guard on (its snapshot and the strategy's state are checkpointed too) and checkpoints every 2 batches. */
const ARGS = (backend: string, out: string) => [
  'train', '--dataset', 'mnist', '--model', 'mlp', '--method', 'fgsm-rs', '--threat', 'linf:0.1', '--co-guard', 'on',
  '--epochs', '2', '--batch-size', '50', '--n', '300', '--seed', '5', '--checkpoint-every', '2',
  '--backend', backend, '--threads', '2', '--out', out,
];

/** metrics.jsonl with its wall-clock fields blanked: everything else must match byte for byte. */
export const metricsWithoutClock = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').replace(/"seconds":[^,]*,"examples_per_s":[^,}]*/g, '"seconds":_,"examples_per_s":_');

function killAndResume(backend: string, root: string, killAt: string): string {
  const out = join(root, killAt.replace(':', '-'));
  const r = cli(ARGS(backend, out), killAt);
  assert.equal(r.signal, 'SIGKILL', `the run was not killed at ${killAt} (exit ${r.status}): ${r.stderr.slice(-400)}`);
  const again = cli([...ARGS(backend, out), '--resume']);
  assert.equal(again.status, 0, `resume after a kill at ${killAt} failed: ${again.stderr.slice(-600)}`);
  return out;
}

const loaded = loadNativeAddon();
const required = process.env.ADVTRAIN_REQUIRE_NATIVE === '1';
const engines: [string, boolean | string][] = [
  ['wasm', false],
  ['native', loaded.ok || required ? false : `native engine unavailable: ${loaded.reason}`],
];

for (const [backend, skip] of engines) {
  describe(`SIGKILL and --resume on ${backend}`, { skip }, () => {
    test('kills mid-epoch, during a checkpoint write, between its renames and after an epoch all resume to the uninterrupted run; a kill during the first checkpoint lets the same command start over', () => {
      const root = mkdtempSync(join(tmpdir(), `advtrain-kill-${backend}-`));
      try {
        const ref = join(root, 'ref');
        const r = cli(ARGS(backend, ref));
        assert.equal(r.status, 0, r.stderr);
        const weights = readFileSync(join(ref, 'weights.bin'));
        const metrics = metricsWithoutClock(ref);
        assert.equal(metrics.trim().split('\n').length, 2);
        // 6 batches an epoch, a checkpoint after batches 2 and 4 and at the epoch's end.
        const points = backend === 'wasm' ? ['step:5', 'checkpoint-write:2', 'checkpoint-rename:3', 'epoch:1'] : ['step:5', 'checkpoint-write:4'];
        // Killed while writing its first checkpoint: nothing to resume, and the same command starts over.
        if (backend === 'wasm') {
          const first = join(root, 'first');
          assert.equal(cli(ARGS(backend, first), 'checkpoint-manifest:1').signal, 'SIGKILL');
          const fresh = cli(ARGS(backend, first));
          assert.equal(fresh.status, 0, fresh.stderr);
          assert.ok(readFileSync(join(first, 'weights.bin')).equals(weights), 'a run restarted after a kill during its first checkpoint differs');
        }
        for (const killAt of points) {
          const out = killAndResume(backend, root, killAt);
          assert.ok(readFileSync(join(out, 'weights.bin')).equals(weights), `weights after a kill at ${killAt} differ from the uninterrupted run`);
          assert.equal(metricsWithoutClock(out), metrics, `metrics.jsonl after a kill at ${killAt} differs`);
        }
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });
  });
}

test('a truncated or corrupt checkpoint file is named in one line; --resume previous then resumes exactly; an old-format checkpoint is refused', async () => {
  const root = mkdtempSync(join(tmpdir(), 'advtrain-corrupt-'));
  try {
    const ref = join(root, 'ref');
    assert.equal(cli(ARGS('wasm', ref)).status, 0);
    // Killed after the third checkpoint: checkpoint/ and checkpoint.prev/ both exist.
    const out = join(root, 'b');
    assert.equal(cli(ARGS('wasm', out), 'epoch:1').signal, 'SIGKILL');
    const files = readdirSync(join(out, 'checkpoint')).sort();
    assert.deepEqual(files, ['manifest.json', 'model.json', 'optimizer.bin', 'state.json', 'tensors.bin', 'weights.bin']);
    for (const f of files) {
      const p = join(out, 'checkpoint', f);
      const saved = readFileSync(p);
      if (f === 'manifest.json') writeFileSync(p, saved.subarray(0, 10));
      else if (saved.length > 40) {
        const bad = Buffer.from(saved);
        bad[bad.length >> 1] ^= 1;
        writeFileSync(p, bad);
      } else truncateSync(p, 1);
      await assert.rejects(loadCheckpoint(out), (e: Error) => e instanceof UserError && e.message.includes(p) && !e.message.includes('\n') && /--resume previous/.test(e.message), f);
      if (f === 'weights.bin') {
        const r = cli([...ARGS('wasm', out), '--resume']);
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, /checkpoint file .*weights\.bin is corrupt/);
      }
      writeFileSync(p, saved);
    }
    truncateSync(join(out, 'checkpoint', 'weights.bin'), 8);
    assert.ok(statSync(join(out, 'checkpoint', 'weights.bin')).size === 8);
    const again = cli([...ARGS('wasm', out), '--resume', 'previous']);
    assert.equal(again.status, 0, again.stderr);
    assert.ok(readFileSync(join(out, 'weights.bin')).equals(readFileSync(join(ref, 'weights.bin'))), 'resuming from the previous checkpoint changed the weights');
    assert.equal(metricsWithoutClock(out), metricsWithoutClock(ref));
    // A format-1 checkpoint (state.json, no manifest) is refused, not misread.
    const old = join(root, 'old');
    assert.equal(cli(ARGS('wasm', old), 'epoch:1').signal, 'SIGKILL');
    rmSync(join(old, 'checkpoint.prev'), { recursive: true });
    rmSync(join(old, 'checkpoint', 'manifest.json'));
    const r = cli([...ARGS('wasm', old), '--resume']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /format 1 .*cannot be resumed exactly/);
    assert.ok(existsSync(join(old, 'checkpoint', 'state.json')), 'a refused checkpoint must be left as it was');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
