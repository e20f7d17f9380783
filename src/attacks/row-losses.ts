import type { AttackLoss } from './losses.js';

/**
 * The score-based attacks' objective and success read straight from a logits array, row by row:
 * the same values as `attackObjective` and `isSuccess` (src/attacks/losses.ts) without a kernel
 * per term, for attacks that read the logits anyway (Square: one read per query batch).
 *
 * @param logits [b·K] row-major; y, target: [b] class ids.
 * @returns objective [b] (larger is closer to success) and success [b] (1: misclassified, or the target).
 *
 * @example
 * ```ts
 * const { objective, success } = rowObjective('cw', logits.dataSync() as Float32Array, 10, yArr);
 * ```
 */
export function rowObjective(
  loss: Exclude<AttackLoss, 'dlr'>,
  logits: Float32Array,
  classes: number,
  y: ArrayLike<number>,
  target?: ArrayLike<number>,
): { objective: Float64Array; success: Uint8Array } {
  const b = logits.length / classes;
  const objective = new Float64Array(b);
  const success = new Uint8Array(b);
  for (let i = 0; i < b; i++) {
    const off = i * classes;
    let arg = 0;
    for (let k = 1; k < classes; k++) if (logits[off + k]! > logits[off + arg]!) arg = k;
    const c = target ? target[i]! : y[i]!;
    success[i] = target ? (arg === c ? 1 : 0) : arg !== c ? 1 : 0;
    if (loss === 'cw') {
      let other = -Infinity;
      for (let k = 0; k < classes; k++) if (k !== c && logits[off + k]! > other) other = logits[off + k]!;
      const zc = logits[off + c]!;
      objective[i] = target ? zc - other : other - zc;
    } else {
      let max = -Infinity;
      for (let k = 0; k < classes; k++) max = Math.max(max, logits[off + k]!);
      let sum = 0;
      for (let k = 0; k < classes; k++) sum += Math.exp(logits[off + k]! - max);
      const ce = max + Math.log(sum) - logits[off + c]!;
      objective[i] = target ? -ce : ce;
    }
  }
  return { objective, success };
}
