import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-layers' bundle registers the gradients of every core op (tfjs-core's own ESM registration file cannot load in Node).
import '@tensorflow/tfjs-layers';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from './wasm-kernels/index.js';
import { UserError } from '../errors.js';

/** What the user may ask for; `auto` picks the fastest engine that works here. */
export type BackendChoice = 'auto' | 'native' | 'wasm' | 'cpu';
export const BACKEND_CHOICES: BackendChoice[] = ['auto', 'native', 'wasm', 'cpu'];

export interface BackendInfo {
  /** The tfjs backend actually running. */
  name: 'wasm' | 'cpu';
  /** Why this engine was picked (printed on start). */
  reason: string;
}

let wasmKernelsRegistered = false;

async function useWasm(threads?: number): Promise<void> {
  if (!wasmKernelsRegistered) {
    registerWasmTrainingKernels();
    wasmKernelsRegistered = true;
  }
  if (threads !== undefined) setThreadsCount(threads);
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend failed to initialise');
  await tf.ready();
}

/**
 * Selects and initialises the compute engine. Safe to call more than once.
 *
 * @example
 * ```ts
 * const info = await selectBackend('auto');
 * console.log(`engine: ${info.name} (${info.reason})`);
 * ```
 */
export async function selectBackend(choice: string = 'auto', opts: { threads?: number } = {}): Promise<BackendInfo> {
  if (!BACKEND_CHOICES.includes(choice as BackendChoice)) {
    throw new UserError(`unknown backend '${choice}': choose one of ${BACKEND_CHOICES.join(', ')}`);
  }
  if (opts.threads !== undefined && (!Number.isInteger(opts.threads) || opts.threads < 1)) {
    throw new UserError(`--threads must be a positive integer (got ${opts.threads})`);
  }
  switch (choice as BackendChoice) {
    case 'cpu':
      await tf.setBackend('cpu');
      await tf.ready();
      return { name: 'cpu', reason: 'asked for (the slow reference backend)' };
    case 'native':
      throw new UserError('the native engine is not built in this version; use --backend wasm (or auto)');
    case 'wasm':
      await useWasm(opts.threads);
      return { name: 'wasm', reason: 'asked for' };
    case 'auto':
      try {
        await useWasm(opts.threads);
        return { name: 'wasm', reason: 'fastest available: WebAssembly SIMD with advtrain training kernels (native engine not built)' };
      } catch (e) {
        await tf.setBackend('cpu');
        await tf.ready();
        return { name: 'cpu', reason: `wasm unavailable (${(e as Error).message})` };
      }
  }
}
