/**
 * The shard worker: takes jobs from the BullMQ queue, validates each payload, resolves the model
 * and data it names (hashes checked), runs the fixed eval or attack code on its examples and
 * stores the per-example results in Redis under the run's key. Nothing in a job is executed:
 * it only selects a preset or a registered attack and their settings.
 */
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Classifier } from '../model/classifier.js';
import { loadModel } from '../model/io.js';
import { isBox } from '../data/domain.js';
import { parseAnyThreat } from '../threat/parse.js';
import { presetMembers } from '../eval/presets.js';
import { createAttack, defined } from '../attacks/registry.js';
import { requireThreat } from '../attacks/support.js';
import { selectBackend } from '../engine/backend.js';
import { runningEngine } from '../eval/evaluate.js';
import { validateJob, type ShardJob } from './job.js';
import { resolveModel } from './model-store.js';
import { preloadData, resolveData } from './data-ref.js';
import { attackChunk, evalChunk } from './chunk-work.js';
import { pack, type Packed } from './codec.js';
import { connectRedis, probeRedis, QUEUE_NAME } from './redis.js';
import { resultKey, RESULT_TTL_S } from './keys.js';

/**
 * Options of {@link startWorker}.
 *
 * @example
 * ```ts
 * const opts: ShardWorkerOptions = { redis: 'redis://127.0.0.1:6379', concurrency: 1, backend: 'wasm', threads: 2 };
 * const w = await startWorker(opts);
 * ```
 */
export interface ShardWorkerOptions {
  redis: string;
  /** Jobs this process runs at once (they share its engine). Default 1. */
  concurrency?: number;
  backend?: string;
  threads?: number;
  /**
   * Seconds a job's lock lasts without renewal (renewed between batches): a worker killed
   * mid-job has its job retried by another after about 1.5 × this. Default 120.
   */
  lockSeconds?: number;
  /** Data sets to load before taking jobs (a first job otherwise loads its data while holding its lock). */
  preload?: string[];
  log?: (s: string) => void;
}

/** Loaded models by hash, the most recent two (a worker usually serves one run at a time). */
class ModelCache {
  private readonly byHash = new Map<string, Promise<Classifier>>();
  get(sha: string, load: () => Promise<Classifier>): Promise<Classifier> {
    let p = this.byHash.get(sha);
    if (!p) {
      p = load();
      this.byHash.set(sha, p);
      p.catch(() => this.byHash.delete(sha));
      while (this.byHash.size > 2) {
        const [oldest, old] = this.byHash.entries().next().value as [string, Promise<Classifier>];
        this.byHash.delete(oldest);
        void old.then((c) => (c as { model?: { dispose(): void } }).model?.dispose()).catch(() => {});
      }
    }
    return p;
  }
}

/** One line from any error, for a job's failure reason. */
const oneLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;

/** Runs one validated job and stores its result; returns a small summary for BullMQ. */
async function runJob(redis: Redis, models: ModelCache, job: Job, engine: string): Promise<{ examples: number; seconds: number }> {
  const t0 = performance.now();
  const j: ShardJob = validateJob(job.data);
  if (j.backend !== engine) throw new Error(`this worker runs the ${engine} engine, but run ${j.run} was started on ${j.backend}: start workers with --backend ${j.backend} (one result comes from one engine)`);
  const threat = parseAnyThreat(j.threat);
  const path = await resolveModel(redis, j.model);
  const loaded = await models.get(j.model.sha256, async () => (await loadModel(path)).classifier);
  const ds = await resolveData(j.data);
  if (loaded.inputShape.join(',') !== ds.shape.join(',')) throw new Error(`model takes inputs [${loaded.inputShape}] but ${j.data.dataset} has [${ds.shape}]`);
  const progress = (f: number) => job.updateProgress(Math.round(f * 1000) / 1000);
  let packed: Packed<unknown>;
  if (j.kind === 'eval') {
    const members = presetMembers(j.preset, threat);
    for (const m of members) requireThreat(m.attack.name, m.attack.support, threat);
    if (loaded.queryOnly) throw new Error(`preset ${j.preset} needs gradients, but the model is query-only`);
    packed = await evalChunk(loaded, ds, j.indices, members, { threat, seed: j.seed, batchSize: j.batchSize }, progress);
  } else {
    const attack = createAttack(j.attack, defined(j.flags), threat);
    // As the attack command does: a typed data domain replaces the model's plain box.
    const clf: Classifier = isBox(ds.domain) ? loaded : { ...loaded, domain: ds.domain };
    packed = await attackChunk(clf, ds, j.indices, attack, { threat, seed: j.seed, batchSize: j.batchSize, targeted: j.targeted, keep: j.keep }, progress);
  }
  await redis.set(resultKey(j.run, j.chunk), pack(packed), 'EX', RESULT_TTL_S);
  return { examples: j.indices.length, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Starts a worker on the queue and returns it (call `close()` to stop after the jobs in hand).
 * Throws one line if Redis cannot be reached or refuses the password.
 *
 * @example
 * ```ts
 * const w = await startWorker({ redis: 'redis://127.0.0.1:6379', backend: 'wasm' });
 * process.on('SIGTERM', () => void w.close());
 * ```
 */
export async function startWorker(o: ShardWorkerOptions): Promise<{ close(): Promise<void> }> {
  const log = o.log ?? ((s: string) => process.stderr.write(s + '\n'));
  await probeRedis(o.redis);
  const info = await selectBackend(o.backend ?? 'auto', { threads: o.threads });
  const engine = runningEngine().backend;
  log(`engine: ${info.name} — ${info.reason}`);
  for (const name of o.preload ?? []) {
    const ds = await preloadData(name);
    log(`preloaded ${name}: ${ds.n} test examples`);
  }
  const redis = connectRedis(o.redis, log);
  const models = new ModelCache();
  const lockMs = Math.round((o.lockSeconds ?? 120) * 1000);
  const workerRedis = connectRedis(o.redis, log);
  const worker = new Worker(QUEUE_NAME, async (job: Job) => {
    try {
      return await runJob(redis, models, job, engine);
    } catch (e) {
      throw new Error(oneLine(e));
    }
  }, {
    connection: workerRedis,
    concurrency: o.concurrency ?? 1,
    lockDuration: lockMs,
    stalledInterval: Math.max(500, Math.round(lockMs / 2)),
    maxStalledCount: 5,
  });
  worker.on('completed', (job, r: { examples: number; seconds: number }) => log(`job ${job.id} done: ${r.examples} examples in ${r.seconds.toFixed(2)} s`));
  worker.on('failed', (job, e) => log(`job ${job?.id ?? '?'} failed: ${e.message}`));
  worker.on('error', (e) => log(`warning: ${oneLine(e)}`));
  await worker.waitUntilReady();
  log(`worker ready on ${QUEUE_NAME} (concurrency ${o.concurrency ?? 1}, engine ${engine}${o.threads ? `, ${o.threads} threads` : ''})`);
  return {
    async close() {
      await worker.close();
      workerRedis.disconnect();
      redis.disconnect();
    },
  };
}
