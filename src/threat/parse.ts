import type { AnyThreat } from './threat.js';
import { parseThreat } from './threat-model.js';
import { parseSpatialThreat } from './spatial.js';

/**
 * Parses any threat model from its CLI form: `NORM:EPS` or `spatial:rot=…,trans=…`.
 *
 * @example
 * ```ts
 * parseAnyThreat('spatial:rot=30,trans=3');
 * parseAnyThreat('l2:2');
 * ```
 */
export function parseAnyThreat(text: string): AnyThreat {
  return text.trim().startsWith('spatial') ? parseSpatialThreat(text) : parseThreat(text);
}
