/** The CLI as a subprocess, optionally SIGKILLed by itself at a named kill point (src/training/kill-point.ts). */
import { spawnSync } from 'node:child_process';
import { BIN } from './cli-helpers.js';

/** Runs `advtrain ARGS`; with `killAt` ('NAME:N') the process kills itself with SIGKILL at that point. */
export function cli(args: string[], killAt?: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0' };
  delete env.ADVTRAIN_TEST_KILL_AT;
  if (killAt) env.ADVTRAIN_TEST_KILL_AT = killAt;
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env });
}
