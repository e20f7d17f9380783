/**
 * The fixed computations a worker runs on one chunk of examples: the evaluation protocol's
 * per-example worst case over an ensemble, or one attack. Both call `runAttack` one batch at a
 * time with the examples' global indices, so every per-example random choice derives from
 * (seed, example index) exactly as in a local run, and the worker's event loop gets a turn
 * between batches (BullMQ renews the job's lock there).
 */
import type { Classifier } from '../model/classifier.js';
import type { Dataset } from '../data/dataset.js';
import { exampleSize } from '../data/dataset.js';
import { take } from '../data/batching.js';
import { deriveSeed } from '../data/rng.js';
import type { Attack } from '../attacks/attack.js';
import type { AnyThreat } from '../threat/threat.js';
import type { Member } from '../eval/presets.js';
import { runAttack, type KeptExample } from '../eval/attack-run.js';
import { killPoint } from '../training/kill-point.js';
import type { Packed } from './codec.js';

/** Called after each batch with the share of the chunk's work done (0 to 1). */
export type ChunkProgress = (fraction: number) => void | Promise<void>;

// A timer, not setImmediate: the loop passes its timers phase, where BullMQ's lock renewal waits.
const breathe = () => new Promise<void>((r) => setTimeout(r, 0));

/** What an eval chunk returns per example (in the chunk's index order). */
export interface EvalChunkMeta {
  /** Seconds each member spent on the chunk. */
  memberTime: number[];
}

/**
 * The evaluation protocol on one chunk: each member attacks the chunk's examples that every
 * earlier member failed on (what `evaluateEnsemble` does over the whole set, per example).
 * Returns brokenBy (member index, −1 if it survived), each member's queries per example
 * (0 where it did not run) and the adversarial inputs, as `evaluateEnsemble` keeps them.
 */
export async function evalChunk(clf: Classifier, ds: Dataset, indices: readonly number[], members: Member[], o: { threat: AnyThreat; seed: number; batchSize: number }, progress?: ChunkProgress): Promise<Packed<EvalChunkMeta>> {
  const size = exampleSize(ds);
  const n = indices.length;
  const M = members.length;
  const pos = new Map(indices.map((i, k) => [i, k]));
  const brokenBy = new Int8Array(n).fill(-1);
  const queries = new Int32Array(n * M);
  const adv = new Float32Array(n * size);
  indices.forEach((i, k) => adv.set(ds.x.subarray(i * size, (i + 1) * size), k * size));
  const memberTime = new Array<number>(M).fill(0);
  let todo = [...indices];
  for (let m = 0; m < M; m++) {
    const seed = deriveSeed(o.seed, 'member', m);
    for (let s = 0; s < todo.length; s += o.batchSize) {
      const idx = todo.slice(s, s + o.batchSize);
      const out = new Float32Array(idx.length * size);
      const r = await runAttack(clf, take(ds, idx), members[m]!.attack, { threat: o.threat, batchSize: o.batchSize, seed, exampleIndices: idx, advOut: out });
      for (let j = 0; j < idx.length; j++) {
        const k = pos.get(idx[j]!)!;
        queries[k * M + m] = r.queriesPer[j]!;
        adv.set(out.subarray(j * size, (j + 1) * size), k * size);
        if (!r.robust[j]) brokenBy[k] = m;
      }
      memberTime[m] += r.time_s;
      killPoint('worker-batch');
      await progress?.((m + Math.min(s + o.batchSize, todo.length) / todo.length) / M);
      await breathe();
    }
    todo = todo.filter((i) => brokenBy[pos.get(i)!] === -1);
  }
  return { meta: { memberTime }, arrays: { brokenBy, queries, adv } };
}

/** What an attack chunk returns besides its per-example arrays. */
export interface AttackChunkMeta {
  time_s: number;
  kept: Omit<KeptExample, 'x' | 'xAdv'>[];
}

/**
 * One attack on one chunk of consecutive examples, batch by batch as `runAttack` would batch
 * the whole set when the chunk starts at a multiple of the batch size. Kept examples carry
 * their global index.
 */
export async function attackChunk(clf: Classifier, ds: Dataset, indices: readonly number[], attack: Attack<AnyThreat>, o: { threat: AnyThreat; seed: number; batchSize: number; targeted: boolean; keep: number }, progress?: ChunkProgress): Promise<Packed<AttackChunkMeta>> {
  const size = exampleSize(ds);
  const n = indices.length;
  const robust = new Uint8Array(n);
  const cleanCorrect = new Uint8Array(n);
  const distances = new Float32Array(n);
  const queries = new Int32Array(n);
  const kept: KeptExample[] = [];
  let time_s = 0;
  const batches = Math.ceil(n / o.batchSize);
  for (let b = 0; b < batches; b++) {
    const idx = indices.slice(b * o.batchSize, (b + 1) * o.batchSize);
    const r = await runAttack(clf, take(ds, idx), attack, { threat: o.threat, batchSize: o.batchSize, seed: o.seed, targeted: o.targeted, exampleIndices: idx, keepExamples: o.keep - kept.length });
    robust.set(r.robust, b * o.batchSize);
    cleanCorrect.set(r.cleanCorrect, b * o.batchSize);
    distances.set(r.distances, b * o.batchSize);
    queries.set(r.queriesPer, b * o.batchSize);
    kept.push(...r.kept.map((e) => ({ ...e, index: idx[e.index]! })));
    time_s += r.time_s;
    killPoint('worker-batch');
    await progress?.((b + 1) / batches);
    await breathe();
  }
  const keptInputs = new Float32Array(kept.length * 2 * size);
  kept.forEach((e, j) => {
    keptInputs.set(e.x, 2 * j * size);
    keptInputs.set(e.xAdv, (2 * j + 1) * size);
  });
  return { meta: { time_s, kept: kept.map(({ x: _x, xAdv: _a, ...rest }) => rest) }, arrays: { robust, cleanCorrect, distances, queries, keptInputs } };
}

