import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-layers' bundle registers the gradients of every core op (tfjs-core's own ESM registration file cannot load in Node).
import '@tensorflow/tfjs-layers';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from './wasm-kernels/index.js';
import { loadNativeAddon, registerNativeKernels, unregisterNativeKernels } from './native/index.js';
import { UserError } from '../errors.js';
import { loadedTfjsPinMismatch } from './tfjs-pin.js';

/**
 * What the user may ask for; `auto` picks the fastest engine that works here.
 *
 * @example
 * ```ts
 * const choice: BackendChoice = 'wasm';
 * await selectBackend(choice);
 * ```
 */
export type BackendChoice = 'auto' | 'native' | 'wasm' | 'cpu';
export const BACKEND_CHOICES: BackendChoice[] = ['auto', 'native', 'wasm', 'cpu'];

/**
 * The engine {@link selectBackend} started, and why.
 *
 * @example
 * ```ts
 * const info: BackendInfo = await selectBackend('auto');
 * console.log(`${info.name}: ${info.reason}`);
 * ```
 */
export interface BackendInfo {
  /** The engine running: 'native' is the wasm backend with advtrain's oneDNN kernels registered. */
  name: 'native' | 'wasm' | 'cpu';
  /** Why this engine was picked (printed on start). */
  reason: string;
}

let wasmKernelsRegistered = false;

async function useWasm(threads?: number): Promise<void> {
  unregisterNativeKernels(); // plain wasm, even after the native engine ran in this process
  if (!wasmKernelsRegistered) {
    // Before the native kernels: the pack records the kernels it replaces as its fallbacks.
    registerWasmTrainingKernels();
    wasmKernelsRegistered = true;
  }
  if (threads !== undefined) setThreadsCount(threads);
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend failed to initialise');
  await tf.ready();
}

async function useNative(threads?: number): Promise<{ ok: true; detail: string } | { ok: false; reason: string }> {
  const pin = loadedTfjsPinMismatch();
  if (pin) return { ok: false, reason: pin };
  const loaded = loadNativeAddon();
  if (!loaded.ok) return { ok: false, reason: loaded.reason };
  await useWasm(1); // wasm's own threads would compete with oneDNN's
  const r = registerNativeKernels(threads);
  if (!r.ok) return r;
  return { ok: true, detail: `oneDNN ${r.onednn} (${r.isa}), ${r.threads} thread${r.threads === 1 ? '' : 's'}` };
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
      unregisterNativeKernels();
      await tf.setBackend('cpu');
      await tf.ready();
      return { name: 'cpu', reason: 'asked for (the slow reference backend)' };
    case 'native': {
      const r = await useNative(opts.threads);
      if (!r.ok) throw new UserError(`${r.reason} (or use --backend wasm)`);
      return { name: 'native', reason: `asked for: ${r.detail}` };
    }
    case 'wasm':
      await useWasm(opts.threads);
      return { name: 'wasm', reason: 'asked for' };
    case 'auto':
      try {
        const r = await useNative(opts.threads);
        if (r.ok) return { name: 'native', reason: `fastest available: ${r.detail}` };
        await useWasm(opts.threads);
        return { name: 'wasm', reason: `WebAssembly SIMD with advtrain training kernels; ${r.reason}` };
      } catch (e) {
        unregisterNativeKernels();
        await tf.setBackend('cpu');
        await tf.ready();
        return { name: 'cpu', reason: `wasm unavailable (${(e as Error).message})` };
      }
  }
}
