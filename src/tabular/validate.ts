import { infeasibility } from '../data/domain.js';
import { UserError } from '../errors.js';
import type { TabularEncoding } from './encoding.js';

/** How far (model-input units) an input may lie from the encoding of the record it decodes to: float32 arithmetic. */
const SAME_POINT = 1e-5;

/**
 * Why one model input is not a valid record, or undefined when it is — the check an adversarial
 * example passes before it is counted: the input is decoded into a raw record, the record is
 * checked against the schema as a fresh file row would be (bounds, grids, categories), it must
 * encode back to the same input (so the record written out is the one the model classified),
 * and the Domain's rules then hold (relations; with `clean`, features the attacker does not
 * control unchanged).
 *
 * @example
 * ```ts
 * const { test } = loadNslKdd();
 * const why = recordInfeasibility(test.encoding, test.x.subarray(0, test.encoding.d)); // undefined
 * ```
 */
export function recordInfeasibility(enc: TabularEncoding, x: Float32Array, clean?: Float32Array): string | undefined {
  if (x.length !== enc.d) return `expected ${enc.d} model-input features, got ${x.length}`;
  const [record] = enc.decode(x);
  let again: Float32Array;
  try {
    again = enc.encode([record!], () => 'decoded record');
  } catch (e) {
    if (e instanceof UserError) return e.message;
    throw e;
  }
  for (let i = 0; i < enc.d; i++) {
    if (Math.abs(again[i]! - x[i]!) > SAME_POINT) {
      return `feature ${enc.featureNames[i]} = ${x[i]} is not the encoding of a record's value (it decodes to ${JSON.stringify(record![enc.featureNames[i]!.split('=')[0]!])}, which encodes to ${again[i]})`;
    }
  }
  return infeasibility(enc.domain(), x, clean);
}

/**
 * The share of rows of `x` (`n × d`) that are valid records ({@link recordInfeasibility}), and
 * the first reason found for an invalid one.
 *
 * @example
 * ```ts
 * const { test } = loadNslKdd();
 * const { rate } = validityRate(test.encoding, test.x.slice(0, 100 * test.encoding.d)); // 1
 * ```
 */
export function validityRate(enc: TabularEncoding, x: Float32Array, clean?: Float32Array): { rate: number; valid: Uint8Array; firstReason?: string } {
  const n = x.length / enc.d;
  const valid = new Uint8Array(n);
  let firstReason: string | undefined;
  for (let i = 0; i < n; i++) {
    const why = recordInfeasibility(enc, x.subarray(i * enc.d, (i + 1) * enc.d), clean?.subarray(i * enc.d, (i + 1) * enc.d));
    if (why === undefined) valid[i] = 1;
    else firstReason ??= `row ${i}: ${why}`;
  }
  return { rate: n ? valid.reduce((a, b) => a + b, 0) / n : 1, valid, ...(firstReason ? { firstReason } : {}) };
}
