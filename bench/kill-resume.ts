/**
 * Crash-safety soak: trains a small run through the CLI, SIGKILLs it at random moments (from
 * outside, as the OOM killer or a reboot would), resumes it with --resume until it finishes, and
 * checks that weights.bin and metrics.jsonl (wall-clock fields aside) equal an uninterrupted
 * run's, byte for byte. Repeats for the given number of minutes and prints the tally.
 *
 *   node build/bench/kill-resume.js [--minutes 5] [--backend wasm] [--method fgsm-rs] [--seed 1]
 *
 * Each run is killed three times, each time at a moment drawn uniformly from 10–90% of the
 * reference run's duration, then allowed to finish. Random kill times are drawn from the bench's own seeded generator (uniform over the reference
 * run's duration), so a run of the bench is reproducible up to the machine's timing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Rng } from '../src/data/rng.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    backend: { type: 'string', default: 'wasm' },
    method: { type: 'string', default: 'fgsm-rs' },
    seed: { type: 'string', default: '1' },
    threads: { type: 'string', default: '2' },
  },
});
const BIN = fileURLToPath(new URL('../../bin/advtrain.js', import.meta.url));
const args = (out: string) => [
  'train', '--dataset', 'mnist', '--model', 'mlp', '--method', values.method!, '--threat', 'linf:0.1',
  '--epochs', '3', '--batch-size', '50', '--n', '600', '--seed', '5', '--checkpoint-every', '3',
  '--backend', values.backend!, '--threads', values.threads!, '--out', out,
];
const KILLS = 3;
const metrics = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').replace(/"seconds":[^,]*,"examples_per_s":[^,}]*/g, '');

/** Runs the CLI; kills it after `killAfterMs` (Infinity: never) if it is still running. Resolves with how it ended. */
function runOnce(a: string[], killAfterMs: number): Promise<{ killed: boolean; code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...a], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = Number.isFinite(killAfterMs) ? setTimeout(() => p.kill('SIGKILL'), killAfterMs) : undefined;
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ killed: signal === 'SIGKILL', code, stderr });
    });
  });
}

const root = mkdtempSync(join(tmpdir(), 'advtrain-kill-bench-'));
try {
  const ref = join(root, 'ref');
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [BIN, ...args(ref)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`reference run failed: ${r.stderr}`);
  const refMs = performance.now() - t0;
  const refWeights = readFileSync(join(ref, 'weights.bin'));
  const refMetrics = metrics(ref);
  console.log(`reference run: ${(refMs / 1000).toFixed(1)} s (${values.backend}, ${values.method}); killing at random moments for ${values.minutes} min`);
  const rng = new Rng(Number(values.seed));
  const end = performance.now() + Number(values.minutes) * 60_000;
  let kills = 0;
  let runs = 0;
  let matched = 0;
  const failures: string[] = [];
  while (performance.now() < end) {
    const out = join(root, `run${runs++}`);
    let resume = false;
    let done = false;
    // Up to KILLS kills per run, each at a random moment of the run; then it may finish.
    for (let attempt = 0; attempt < 50 && !done; attempt++) {
      const a = [...args(out), ...(resume ? ['--resume'] : [])];
      const res = await runOnce(a, attempt < KILLS ? (0.1 + 0.8 * rng.next()) * refMs : Infinity);
      if (res.killed) {
        kills++;
        // Killed before its first checkpoint was complete: start again from nothing.
        resume = existsSync(join(out, 'checkpoint')) || existsSync(join(out, 'checkpoint.prev'));
        if (!resume) rmSync(out, { recursive: true, force: true });
        continue;
      }
      if (res.code !== 0) {
        failures.push(`${out}: exit ${res.code}: ${res.stderr.trim().split('\n').pop()}`);
        break;
      }
      done = true;
    }
    if (!done) continue;
    const same = readFileSync(join(out, 'weights.bin')).equals(refWeights) && metrics(out) === refMetrics;
    if (same) matched++;
    else failures.push(`${out}: result differs from the uninterrupted run`);
    if (same) rmSync(out, { recursive: true, force: true });
    process.stdout.write(`\rkills survived ${kills}, runs finished ${matched + failures.length}, matching ${matched}   `);
  }
  console.log(`\nkills survived: ${kills}; runs finished: ${matched + failures.length}; resumed runs that matched the uninterrupted run byte for byte: ${matched}`);
  for (const f of failures) console.log(`FAILED ${f}`);
  process.exitCode = failures.length ? 1 : 0;
} finally {
  if (!process.exitCode) rmSync(root, { recursive: true, force: true });
}
