import * as tf from '@tensorflow/tfjs-core';
import { version_wasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * The tfjs version whose internals advtrain's kernels rely on: the wasm backend's heap layout and
 * `dataIdMap` (native kernels and optimizers write into its buffers), kernel names and attributes,
 * and the optimizers' private fields. package.json pins every @tensorflow package to it exactly.
 */
export const TFJS_PIN = '4.22.0';

/**
 * Why the native engine must not run with these versions, or undefined when they match the pin.
 *
 * @example
 * ```ts
 * const why = tfjsPinMismatch({ core: tf.version_core, wasm: version_wasm });
 * if (why) console.log(why);
 * ```
 */
export function tfjsPinMismatch(versions: { core: string; wasm: string }): string | undefined {
  const off = Object.entries(versions).filter(([, v]) => v !== TFJS_PIN);
  if (off.length === 0) return undefined;
  return `native engine needs tfjs ${TFJS_PIN} (its kernels use that version's wasm internals), found ${off
    .map(([k, v]) => `tfjs-${k === 'core' ? 'core' : 'backend-wasm'} ${v}`)
    .join(', ')}: npm ci restores the pinned versions`;
}

/** {@link tfjsPinMismatch} for the tfjs loaded in this process. */
export function loadedTfjsPinMismatch(): string | undefined {
  return tfjsPinMismatch({ core: tf.version_core, wasm: version_wasm });
}
