import type { Classifier } from '../model/classifier.js';
import type { Dataset } from '../data/dataset.js';
import { exampleSize } from '../data/dataset.js';
import type { Attack } from '../attacks/attack.js';
import type { AnyThreat } from '../threat/threat.js';
import { summarize } from './stats.js';
import { runAttack, type AttackRunOptions, type AttackRunResult, type KeptExample } from './attack-run.js';
import { loadRunState, saveRunState, type StateFileLabels, type StateSettings } from './run-state.js';
import { killPoint } from '../training/kill-point.js';
import { UserError } from '../errors.js';

/** Options of {@link runAttackResumable}: those of `runAttack` (but not `advOut`), and where and when to save. */
export interface ResumableAttackOptions extends Omit<AttackRunOptions, 'advOut' | 'exampleIndices'> {
  /** The state file: rewritten atomically as the run goes; an existing one with the same settings is resumed. */
  statePath: string;
  /** Every setting the result depends on, keyed by the option that sets it (see {@link StateSettings}). */
  settings: StateSettings;
  /** How messages name the state and tell how to start over. */
  labels?: StateFileLabels;
  /** Save after this many batches. Default: after the first batch that ends `saveEverySeconds` after the last save. */
  saveEveryBatches?: number;
  /** Default 30. */
  saveEverySeconds?: number;
  /** Called once if the run continues a saved state, with the examples already done. */
  onResume?: (done: number) => void;
}

/** What the state file holds besides its binary part. */
interface AttackState {
  /** Examples finished (a whole number of batches). */
  next: number;
  time_s: number;
  kept: Omit<KeptExample, 'x' | 'xAdv'>[];
  /** Records that fooled the model but were invalid, over the examples done. */
  invalid_successes?: number;
}

/** The per-example arrays of a run, laid out in one binary block (4-byte arrays first). */
export class PerExample {
  readonly distances: Float32Array;
  readonly queries: Int32Array;
  readonly changed: Int32Array;
  readonly robust: Uint8Array;
  readonly cleanCorrect: Uint8Array;
  readonly attacked: Uint8Array;
  readonly valid: Uint8Array;
  constructor(readonly n: number, bytes = new Uint8Array(PerExample.bytes(n))) {
    const b = bytes.buffer;
    const o = bytes.byteOffset;
    this.distances = new Float32Array(b, o, n);
    this.queries = new Int32Array(b, o + 4 * n, n);
    this.changed = new Int32Array(b, o + 8 * n, n);
    this.robust = new Uint8Array(b, o + 12 * n, n);
    this.cleanCorrect = new Uint8Array(b, o + 13 * n, n);
    this.attacked = new Uint8Array(b, o + 14 * n, n);
    this.valid = new Uint8Array(b, o + 15 * n, n);
  }
  static bytes(n: number): number {
    return 16 * n;
  }
  get block(): Uint8Array {
    return new Uint8Array(this.distances.buffer, this.distances.byteOffset, PerExample.bytes(this.n));
  }
}

const DEFAULT_LABELS: StateFileLabels = { what: 'attack', startOver: 'delete it' };

/**
 * {@link runAttack} over a data set in chunks of whole batches, saving its progress after each
 * chunk to `statePath` (atomically; per-example results, the kept examples and the settings).
 * A run killed at any moment and started again with the same settings continues after the last
 * saved chunk and returns the same result, apart from `time_s`, as a run never interrupted —
 * and the same as `runAttack` on the whole set: batches fall where they would, and per-example
 * randomness derives from (seed, example index). The caller removes the state once the result
 * is stored.
 *
 * @example
 * ```ts
 * const r = await runAttackResumable(clf, subset(test, 1000), new Pgd({ steps: 50 }), { threat, statePath: 'out.json.state', settings: { '--seed': 0 } });
 * ```
 */
export async function runAttackResumable(clf: Classifier, ds: Dataset, attack: Attack<AnyThreat>, o: ResumableAttackOptions): Promise<AttackRunResult> {
  const t0 = performance.now();
  const batchSize = o.batchSize ?? 256;
  const keep = o.keepExamples ?? 0;
  const size = exampleSize(ds);
  const everySeconds = o.saveEverySeconds ?? 30;
  const per = new PerExample(ds.n);
  let kept: KeptExample[] = [];
  let next = 0;
  let timeBefore = 0;
  const loaded = loadRunState<AttackState>(o.statePath, o.settings, o.labels ?? DEFAULT_LABELS);
  if (loaded) {
    const { data, blob } = loaded;
    const want = PerExample.bytes(ds.n) + data.kept.length * 2 * size * 4;
    if (blob.byteLength !== want || data.next % batchSize !== 0 || data.next > ds.n) {
      throw new UserError(`attack state ${o.statePath} does not fit this run (${blob.byteLength} bytes, ${data.next} examples done): ${(o.labels ?? DEFAULT_LABELS).startOver} to start over`);
    }
    // Kept inputs first (4-byte aligned at offset 0 of the copy), then the per-example block.
    const inputs = new Float32Array(blob.buffer, blob.byteOffset, data.kept.length * 2 * size);
    kept = data.kept.map((k, j) => ({ ...k, x: inputs.slice(2 * j * size, (2 * j + 1) * size), xAdv: inputs.slice((2 * j + 1) * size, (2 * j + 2) * size) }));
    per.block.set(blob.subarray(inputs.byteLength));
    next = data.next;
    timeBefore = data.time_s;
    o.onResume?.(next);
  }
  const save = () => {
    const inputs = new Float32Array(kept.length * 2 * size);
    kept.forEach((k, j) => {
      inputs.set(k.x, 2 * j * size);
      inputs.set(k.xAdv, (2 * j + 1) * size);
    });
    const blob = new Uint8Array(inputs.byteLength + PerExample.bytes(ds.n));
    blob.set(new Uint8Array(inputs.buffer), 0);
    blob.set(per.block, inputs.byteLength);
    const state: AttackState = { next, time_s: timeBefore + (performance.now() - t0) / 1000, kept: kept.map(({ x: _x, xAdv: _a, ...meta }) => meta), invalid_successes: invalidSuccesses };
    saveRunState(o.statePath, o.settings, state, blob);
  };
  let invalidSuccesses = (loaded?.data.invalid_successes as number | undefined) ?? 0;
  let batchesSinceSave = 0;
  let lastSave = performance.now();
  while (next < ds.n) {
    const end = Math.min(next + batchSize, ds.n);
    const start = next;
    const part: Dataset = { ...ds, x: ds.x.subarray(start * size, end * size), y: ds.y.subarray(start, end), n: end - start };
    const indices = Int32Array.from({ length: end - start }, (_, k) => start + k);
    const r = await runAttack(clf, part, attack, {
      ...o,
      batchSize,
      keepExamples: keep - kept.length,
      exampleIndices: indices,
      attackMask: o.attackMask?.subarray(start, end),
      onProgress: undefined,
    });
    for (let k = 0; k < part.n; k++) {
      const i = start + k;
      per.robust[i] = r.robust[k]!;
      per.cleanCorrect[i] = r.cleanCorrect[k]!;
      per.attacked[i] = o.attackMask ? o.attackMask[i]! : r.cleanCorrect[k]!;
      per.distances[i] = r.distances[k]!;
      per.queries[i] = r.queriesPer[k]!;
      per.changed[i] = r.changed?.[k] ?? 0;
      per.valid[i] = r.valid?.[k] ?? 1;
    }
    invalidSuccesses += r.invalid_successes ?? 0;
    kept.push(...r.kept.map((e) => ({ ...e, index: e.index + start })));
    next = end;
    o.onProgress?.(next, ds.n);
    batchesSinceSave++;
    const due = o.saveEveryBatches !== undefined ? batchesSinceSave >= o.saveEveryBatches : (performance.now() - lastSave) / 1000 >= everySeconds;
    if (due || next === ds.n) {
      save();
      killPoint('attack-chunk');
      batchesSinceSave = 0;
      lastSave = performance.now();
    }
  }
  return assemble(per, kept, timeBefore + (performance.now() - t0) / 1000, invalidSuccesses);
}

/** The result `runAttack` would give, from the per-example arrays (data-set order, as runAttack collects them); sharded runs merge through it too. */
export function assemble(per: PerExample, kept: KeptExample[], time_s: number, invalidSuccesses: number): AttackRunResult {
  const n = per.n;
  const queries: number[] = [];
  const succDist: number[] = [];
  let attacked = 0;
  let broken = 0;
  let cleanCount = 0;
  let robustCount = 0;
  let validCount = 0;
  const changedBroken: number[] = [];
  for (let i = 0; i < n; i++) {
    cleanCount += per.cleanCorrect[i]!;
    robustCount += per.robust[i]!;
    if (!per.attacked[i]) continue;
    attacked++;
    validCount += per.valid[i]!;
    queries.push(per.queries[i]!);
    if (!per.robust[i]) {
      broken++;
      succDist.push(per.distances[i]!);
      if (per.cleanCorrect[i]) changedBroken.push(per.changed[i]!);
    }
  }
  const d = summarize(succDist);
  const c = summarize(changedBroken);
  return {
    n,
    clean_accuracy: n ? cleanCount / n : 0,
    robust_accuracy: n ? robustCount / n : 0,
    success_rate: attacked ? broken / attacked : 0,
    attacked,
    distance: { median: d.median, mean: d.mean, max: d.max },
    queries: summarize(queries),
    time_s,
    robust: per.robust,
    cleanCorrect: per.cleanCorrect,
    distances: per.distances,
    queriesPer: per.queries,
    kept,
    validity_rate: attacked ? validCount / attacked : 1,
    invalid_successes: invalidSuccesses,
    valid: per.valid,
    changed: per.changed,
    features_changed: { median: c.median, mean: c.mean, max: c.max },
  };
}
