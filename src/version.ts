import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';

/** The package version, read once from package.json. */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The versions written into every result file: advtrain, tfjs and Node as they run now. */
export function runtimeVersions(): { advtrain: string; tfjs: string; node: string } {
  return { advtrain: VERSION, tfjs: tf.version_core, node: process.version };
}
