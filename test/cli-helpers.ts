/** What the CLI tests repeat: the advtrain binary, running it, and the one-line error they all expect. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built CLI entry point. */
export const BIN = fileURLToPath(new URL('../../bin/advtrain.js', import.meta.url));

/** A finished CLI run: exit code (`code` and `status` alike), the signal that ended it, and its output. */
export interface CliRun {
  code: number | null;
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `advtrain ARGS` to the end, colours off. */
export function cli(...args: string[]): CliRun {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
  return { code: r.status, status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** One clear error line matching `pattern`: non-zero exit, exactly one line saying "error", no stack trace. */
export function assertOneLineError(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.notEqual(r.code, 0, 'exit code must be non-zero');
  const errors = r.stderr.split('\n').filter((l) => /error/i.test(l));
  assert.equal(errors.length, 1, `one error line expected, got:\n${r.stderr}`);
  assert.match(errors[0]!, pattern);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
}
