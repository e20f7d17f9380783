/**
 * `advtrain eval --redis`: the evaluation protocol's ensemble (the expensive part) sharded over
 * workers, merged into the `ProtocolResult` a local `evaluateEnsemble` gives, so `evaluate()`
 * builds the same JSON and report from it. Clean accuracy, margin, curves, checks and gallery
 * stay on the coordinator.
 */
import type { Classifier } from '../model/classifier.js';
import { isBox } from '../data/domain.js';
import type { Dataset } from '../data/dataset.js';
import { exampleSize } from '../data/dataset.js';
import { evaluateClean } from '../model/accuracy.js';
import { requireThreat } from '../attacks/support.js';
import type { MemberResult, ProtocolOptions, ProtocolResult } from '../eval/protocol.js';
import { presetMembers } from '../eval/presets.js';
import { summarize } from '../eval/stats.js';
import { UserError } from '../errors.js';
import { JOB_VERSION, type EvalJob, type ModelRef } from './job.js';
import { runId } from './keys.js';
import { dataRef } from './data-ref.js';
import { modelBundle, sha256, storeModel } from './model-store.js';
import { runShards } from './coordinator.js';
import { unpack } from './codec.js';
import type { EvalChunkMeta } from './chunk-work.js';

/** How a sharded run reaches the model: its bytes stored once in Redis (default), or a path every worker sees. */
export type ModelVia = 'redis' | 'path';

/** What a sharded evaluation needs besides the protocol's own options. */
export interface ShardedEvalOptions {
  redis: string;
  /** Examples per job. */
  chunk: number;
  modelPath: string;
  modelVia: ModelVia;
  /** The data set name (or path) workers load; the examples are its first n test examples. */
  dataset: string;
  preset: string;
  /** The engine the coordinator runs, which every worker must run too. */
  backend: string;
  log: (s: string) => void;
  onProgress?: (done: number, total: number) => void;
}

/** The model reference jobs carry, storing the bytes in Redis when they travel that way. */
export function modelReference(path: string, via: ModelVia): { ref: ModelRef; bundle?: Buffer } {
  const bundle = modelBundle(path);
  const sha = sha256(bundle);
  return via === 'path' ? { ref: { via: 'path', path, sha256: sha } } : { ref: { via: 'redis', sha256: sha }, bundle };
}

/**
 * An ensemble runner for `evaluate()` that shards the protocol over BullMQ workers; `finish()`
 * deletes the run's results from Redis once the caller has written its output.
 *
 * @example
 * ```ts
 * const sharded = shardedEnsemble({ redis, chunk: 250, modelPath: 'runs/m', modelVia: 'redis', dataset: 'mnist', preset: 'standard', backend: 'wasm', log });
 * const result = await evaluate(clf, test, { threat, preset: 'standard', ensemble: sharded.run });
 * await sharded.finish();
 * ```
 */
export function shardedEnsemble(s: ShardedEvalOptions): { run: (clf: Classifier, ds: Dataset, o: ProtocolOptions) => Promise<ProtocolResult>; finish: () => Promise<void> } {
  let finish = async () => {};
  const run = async (clf: Classifier, ds: Dataset, o: ProtocolOptions): Promise<ProtocolResult> => {
    // Only plain boxes are sharded: chunks do not re-validate typed records, so every success is valid.
    if (!isBox(ds.domain)) throw new UserError(`${ds.name} has a typed feasible set (tabular): sharded runs do not check record validity yet; run it without --redis`);
    const t0 = performance.now();
    const expected = JSON.stringify(presetMembers(s.preset, o.threat).map((m) => [m.attack.name, m.attack.params]));
    if (JSON.stringify(o.members.map((m) => [m.attack.name, m.attack.params])) !== expected) throw new UserError(`a sharded evaluation runs a preset's members as workers build them: use preset ${s.preset} unchanged`);
    for (const m of o.members) requireThreat(m.attack.name, m.attack.support, o.threat);
    const M = o.members.length;
    const size = exampleSize(ds);
    const seed = o.seed ?? 0;
    const batchSize = o.batchSize ?? 256;
    const clean = evaluateClean(clf, ds, { batchSize });
    const todo: number[] = [];
    clean.correct.forEach((c, i) => c && todo.push(i));
    const { ref, bundle } = modelReference(s.modelPath, s.modelVia);
    const data = dataRef(s.dataset, ds);
    const id = runId({ kind: 'eval', v: JOB_VERSION, model: ref.sha256, data, threat: o.threat.toString(), preset: s.preset, seed, batchSize, backend: s.backend, chunk: s.chunk });
    const jobs: EvalJob[] = [];
    for (let k = 0; k * s.chunk < todo.length; k++) {
      jobs.push({ v: JOB_VERSION, kind: 'eval', run: id, chunk: k, model: ref, data, threat: o.threat.toString(), seed, batchSize, backend: s.backend, indices: todo.slice(k * s.chunk, (k + 1) * s.chunk), preset: s.preset });
    }
    s.log(`sharding ${todo.length} clean-correct examples into ${jobs.length} jobs of up to ${s.chunk} (run ${id})`);
    const shards = await runShards({
      redis: s.redis,
      run: id,
      jobs,
      log: s.log,
      onProgress: s.onProgress,
      prepare: async (r) => void (bundle && (await storeModel(r, bundle))),
    });
    finish = shards.finish;
    const brokenBy = Int8Array.from(clean.correct, (c) => (c ? -1 : -2));
    const queries: number[][] = Array.from({ length: M }, () => []);
    const memberTime = new Array<number>(M).fill(0);
    const adv = Float32Array.from(ds.x.subarray(0, ds.n * size));
    shards.results.forEach((buf, c) => {
      const { meta, arrays } = unpack<EvalChunkMeta>(buf);
      const idx = jobs[c]!.indices;
      const b = arrays.brokenBy as Int8Array;
      const a = arrays.adv as Float32Array;
      if (b.length !== idx.length || a.length !== idx.length * size || meta.memberTime.length !== M) throw new UserError(`the stored result of chunk ${c} of run ${id} does not fit this run: delete the keys advtrain:run:${id}:* and rerun`);
      idx.forEach((i, k) => {
        brokenBy[i] = b[k]!;
        adv.set(a.subarray(k * size, (k + 1) * size), i * size);
      });
      meta.memberTime.forEach((t, m) => (memberTime[m] += t));
    });
    // Member rows as evaluateEnsemble builds them: queries in data-set order (each chunk's in turn).
    shards.results.forEach((buf, c) => {
      const q = unpack<EvalChunkMeta>(buf).arrays.queries as Int32Array;
      jobs[c]!.indices.forEach((i, k) => {
        for (let m = 0; m < M; m++) if (brokenBy[i] === -1 || brokenBy[i]! >= m) queries[m]!.push(q[k * M + m]!);
      });
    });
    const rows: MemberResult[] = o.members.map((m, j) => {
      let attacked = 0;
      let broken = 0;
      let robust = 0;
      for (let i = 0; i < ds.n; i++) {
        const b = brokenBy[i]!;
        if (b === -1 || b >= j) attacked++;
        if (b === j) broken++;
        if (b === -1 || b > j) robust++;
      }
      const qs = summarize(queries[j]!);
      return { name: m.attack.name, params: m.attack.params, access: m.access, robust_accuracy: ds.n ? robust / ds.n : 0, attacked, broken, queries: { median: qs.median, mean: qs.mean, total: qs.total }, time_s: memberTime[j]!, validity_rate: 1 };
    });
    const robust = Uint8Array.from(brokenBy, (b) => (b === -1 ? 1 : 0));
    return {
      n: ds.n,
      clean_accuracy: clean.accuracy,
      robust_accuracy: ds.n ? robust.reduce((a, b) => a + b, 0) / ds.n : 0,
      members: rows,
      cleanCorrect: clean.correct,
      robust,
      brokenBy,
      adv,
      time_s: (performance.now() - t0) / 1000,
    };
  };
  return { run, finish: () => finish() };
}
