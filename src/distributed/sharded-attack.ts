/**
 * `advtrain attack --redis`: one attack over the first n test examples, sharded over workers in
 * chunks of whole batches, merged into the `AttackRunResult` a local `runAttack` gives.
 */
import type { Classifier } from '../model/classifier.js';
import type { Dataset } from '../data/dataset.js';
import { exampleSize } from '../data/dataset.js';
import { isBox } from '../data/domain.js';
import type { Attack } from '../attacks/attack.js';
import type { AttackFlags } from '../attacks/registry.js';
import { defined } from '../attacks/registry.js';
import { requireThreat } from '../attacks/support.js';
import type { AnyThreat } from '../threat/threat.js';
import type { AttackRunResult, KeptExample } from '../eval/attack-run.js';
import { assemble, PerExample } from '../eval/attack-resume.js';
import { UserError } from '../errors.js';
import { JOB_VERSION, type AttackJob } from './job.js';
import { runId } from './keys.js';
import { dataRef } from './data-ref.js';
import { storeModel } from './model-store.js';
import { runShards } from './coordinator.js';
import { unpack } from './codec.js';
import type { AttackChunkMeta } from './chunk-work.js';
import { modelReference, type ModelVia } from './sharded-eval.js';

/** What a sharded attack run needs. */
export interface ShardedAttackOptions {
  redis: string;
  /** Examples per job, rounded up to whole batches (so every batch is the one a local run makes). */
  chunk: number;
  modelPath: string;
  modelVia: ModelVia;
  dataset: string;
  /** The registered attack's name and the flags it was built from (workers build the same). */
  attackName: string;
  flags: AttackFlags;
  threat: AnyThreat;
  targeted: boolean;
  seed: number;
  batchSize: number;
  keep: number;
  backend: string;
  log: (s: string) => void;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Runs `attack` over `ds` on the workers and returns what `runAttack(clf, ds, attack, …)` would,
 * per example identical; `finish()` deletes the run's results from Redis.
 *
 * @example
 * ```ts
 * const { result, finish } = await shardedAttack(clf, test, createAttack('pgd'), { redis, chunk: 256, modelPath: 'runs/m', modelVia: 'redis', dataset: 'mnist', attackName: 'pgd', flags: {}, threat, targeted: false, seed: 0, batchSize: 256, keep: 0, backend: 'wasm', log });
 * ```
 */
export async function shardedAttack(clf: Classifier, ds: Dataset, attack: Attack<AnyThreat>, s: ShardedAttackOptions): Promise<{ result: AttackRunResult; finish: () => Promise<void> }> {
  const t0 = performance.now();
  requireThreat(attack.name, attack.support, s.threat);
  if (clf.inputShape.join(',') !== ds.shape.join(',')) throw new UserError(`model takes inputs [${clf.inputShape}] but the data has [${ds.shape}]`);
  if (!isBox(ds.domain)) throw new UserError(`${s.dataset} has a typed feasible set (tabular): sharded runs do not check record validity yet; run it without --redis`);
  const chunk = Math.ceil(s.chunk / s.batchSize) * s.batchSize;
  const { ref, bundle } = modelReference(s.modelPath, s.modelVia);
  const data = dataRef(s.dataset, ds);
  const flags = defined({ ...s.flags }) as AttackJob['flags'];
  const id = runId({ kind: 'attack', v: JOB_VERSION, model: ref.sha256, data, threat: s.threat.toString(), attack: s.attackName, flags, params: attack.params, targeted: s.targeted, seed: s.seed, batchSize: s.batchSize, keep: s.keep, backend: s.backend, chunk });
  const jobs: AttackJob[] = [];
  for (let k = 0; k * chunk < ds.n; k++) {
    const indices = Array.from({ length: Math.min(chunk, ds.n - k * chunk) }, (_, j) => k * chunk + j);
    jobs.push({ v: JOB_VERSION, kind: 'attack', run: id, chunk: k, model: ref, data, threat: s.threat.toString(), seed: s.seed, batchSize: s.batchSize, backend: s.backend, indices, attack: s.attackName, flags, targeted: s.targeted, keep: s.keep });
  }
  s.log(`sharding ${ds.n} examples into ${jobs.length} jobs of up to ${chunk} (run ${id})`);
  const shards = await runShards({ redis: s.redis, run: id, jobs, log: s.log, onProgress: s.onProgress, prepare: async (r) => void (bundle && (await storeModel(r, bundle))) });
  const size = exampleSize(ds);
  const per = new PerExample(ds.n);
  const kept: KeptExample[] = [];
  shards.results.forEach((buf, c) => {
    const { meta, arrays } = unpack<AttackChunkMeta>(buf);
    const start = jobs[c]!.indices[0]!;
    const len = jobs[c]!.indices.length;
    if (arrays.robust!.length !== len) throw new UserError(`the stored result of chunk ${c} of run ${id} does not fit this run: delete the keys advtrain:run:${id}:* and rerun`);
    per.robust.set(arrays.robust as Uint8Array, start);
    per.cleanCorrect.set(arrays.cleanCorrect as Uint8Array, start);
    per.attacked.set(arrays.cleanCorrect as Uint8Array, start);
    per.distances.set(arrays.distances as Float32Array, start);
    per.queries.set(arrays.queries as Int32Array, start);
    const inputs = arrays.keptInputs as Float32Array;
    meta.kept.forEach((e, j) => {
      if (kept.length < s.keep) kept.push({ ...e, x: inputs.slice(2 * j * size, (2 * j + 1) * size), xAdv: inputs.slice((2 * j + 1) * size, (2 * j + 2) * size) });
    });
  });
  // Only plain boxes are sharded (see shardedAttack's refusal), so no success is ever invalid.
  return { result: assemble(per, kept, (performance.now() - t0) / 1000, 0), finish: shards.finish };
}
