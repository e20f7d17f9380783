import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { selectBackend } from '../engine/backend.js';
import { barProgress, lineProgress, type ProgressReporter } from '../training/progress.js';

/** The package version, read once from package.json. */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Starts the engine the user chose and says which one runs. */
export async function startEngine(opts: { backend: string; threads?: number }, log: (s: string) => void): Promise<{ backend: string; threads?: number }> {
  const info = await selectBackend(opts.backend, { threads: opts.threads });
  log(`engine: ${info.name} — ${info.reason}`);
  return { backend: info.name, threads: opts.threads };
}

/** A progress bar on a terminal, log lines elsewhere. */
export function defaultProgress(): ProgressReporter {
  return process.stderr.isTTY ? barProgress() : lineProgress();
}

/** Versions written into every result file. */
export function versions(): Record<string, string> {
  return { advtrain: VERSION, tfjs: tf.version_core, node: process.version };
}

/** Logs to stderr so stdout stays clean for results. */
export const log = (s: string): void => {
  process.stderr.write(s + '\n');
};
