/**
 * The coordinator's side of a sharded run: queue one BullMQ job per chunk (skipping chunks
 * whose results a previous coordinator of the same run already has in Redis), follow the
 * queue's events for progress, fail the run with a job's own message, and hand back every
 * chunk's stored result in chunk order.
 */
import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { UserError } from '../errors.js';
import { killPoint } from '../training/kill-point.js';
import type { ShardJob } from './job.js';
import { jobId, resultKey } from './keys.js';
import { connectRedis, probeRedis, QUEUE_NAME } from './redis.js';

/** Options of {@link runShards}. */
export interface ShardRunOptions {
  redis: string;
  /** The run id every job carries (see keys.ts). */
  run: string;
  /** One job per chunk, `chunk` = its position. */
  jobs: ShardJob[];
  log: (s: string) => void;
  /** Examples finished (whole chunks and the running ones' reported share), of all. */
  onProgress?: (done: number, total: number) => void;
  /** Called once before anything is queued, with the redis connection (e.g. to store the model). */
  prepare?: (redis: Redis) => Promise<void>;
  /** Seconds between checks of the stored results (a safety net under the queue's events). Default 2. */
  pollSeconds?: number;
}

/** A sharded run's chunk results, and how to delete them once the caller has written its output. */
export interface ShardRun {
  results: Buffer[];
  /** Jobs this coordinator queued (the others were finished before it started). */
  queued: number;
  /** Deletes the run's stored results. */
  finish(): Promise<void>;
}

/**
 * Runs the jobs on whatever workers serve the queue and returns their results. Restarted with
 * the same run id, it queues only the chunks without a stored result.
 *
 * @example
 * ```ts
 * const { results, finish } = await runShards({ redis: 'redis://127.0.0.1:6379', run, jobs, log: console.error });
 * // … merge, write the output …
 * await finish();
 * ```
 */
export async function runShards(o: ShardRunOptions): Promise<ShardRun> {
  await probeRedis(o.redis);
  const redis = connectRedis(o.redis, o.log);
  const queue = new Queue(QUEUE_NAME, { connection: redis });
  const eventsRedis = connectRedis(o.redis, o.log);
  const events = new QueueEvents(QUEUE_NAME, { connection: eventsRedis });
  // BullMQ leaves connections it was given open: close them here.
  const closeAll = async () => {
    await events.close();
    await queue.close();
    eventsRedis.disconnect();
    redis.disconnect();
  };
  try {
    await events.waitUntilReady();
    await o.prepare?.(redis);
    const n = o.jobs.length;
    const size = o.jobs.map((j) => j.indices.length);
    const total = size.reduce((a, b) => a + b, 0);
    const doneChunks = new Set<number>();
    const partial = new Map<number, number>();
    const existing = await redis.pipeline(o.jobs.map((j) => ['exists', resultKey(o.run, j.chunk)])).exec();
    existing?.forEach(([, v], k) => v === 1 && doneChunks.add(k));
    if (doneChunks.size) o.log(`resuming sharded run ${o.run}: ${doneChunks.size} of ${n} chunks already done`);
    let failure: string | undefined;
    let wake: () => void = () => {};
    const progress = () => {
      let done = 0;
      for (const k of doneChunks) done += size[k]!;
      for (const [k, f] of partial) if (!doneChunks.has(k)) done += f * size[k]!;
      o.onProgress?.(Math.floor(done), total);
    };
    const chunkOf = (id: string) => (id.startsWith(`${o.run}-`) ? Number(id.slice(o.run.length + 1)) : -1);
    events.on('completed', ({ jobId: id }) => {
      const k = chunkOf(id);
      if (k < 0 || doneChunks.has(k)) return;
      doneChunks.add(k);
      progress();
      killPoint('coordinator-chunk');
      wake();
    });
    events.on('progress', ({ jobId: id, data }) => {
      const k = chunkOf(id);
      if (k >= 0 && typeof data === 'number') {
        partial.set(k, data);
        progress();
      }
    });
    events.on('failed', ({ jobId: id, failedReason }) => {
      const k = chunkOf(id);
      if (k < 0) return;
      failure ??= `chunk ${k} of ${n} (job ${id}) failed on a worker: ${failedReason}`;
      wake();
    });
    const todo = o.jobs.filter((j) => !doneChunks.has(j.chunk));
    const tQueued = performance.now();
    // A job that failed in an earlier attempt of this run is removed, so the same command retries it.
    for (const j of todo) {
      const old = await queue.getJob(jobId(o.run, j.chunk));
      if (old && (await old.isFailed())) await old.remove();
    }
    for (let s = 0; s < todo.length; s += 500) {
      await queue.addBulk(todo.slice(s, s + 500).map((j) => ({ name: j.kind, data: j, opts: { jobId: jobId(o.run, j.chunk), attempts: 1, removeOnComplete: true, removeOnFail: { age: 7 * 24 * 3600 } } })));
    }
    if (todo.length) o.log(`queued ${todo.length} jobs of run ${o.run} on ${QUEUE_NAME}; waiting for workers (advtrain worker --redis …)`);
    progress();
    while (doneChunks.size < n && !failure) {
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, (o.pollSeconds ?? 2) * 1000);
      });
      // Results stored while an event was missed (a reconnect) still count.
      const missing = o.jobs.filter((j) => !doneChunks.has(j.chunk));
      const got = missing.length ? await redis.pipeline(missing.map((j) => ['exists', resultKey(o.run, j.chunk)])).exec() : [];
      got?.forEach(([, v], k) => v === 1 && doneChunks.add(missing[k]!.chunk));
    }
    if (failure) {
      // The run is over: take its jobs not yet started off the queue (active ones finish or fail on their own).
      for (const j of o.jobs) if (!doneChunks.has(j.chunk)) await queue.remove(jobId(o.run, j.chunk)).catch(() => 0);
      throw new UserError(failure);
    }
    progress();
    o.log(`sharded run ${o.run}: ${n} chunks done in ${((performance.now() - tQueued) / 1000).toFixed(2)} s after queueing`);
    const results: Buffer[] = [];
    for (let s = 0; s < n; s += 100) {
      const part = await redis.pipeline(o.jobs.slice(s, s + 100).map((j) => ['getBuffer', resultKey(o.run, j.chunk)])).exec();
      part?.forEach(([e, v], k) => {
        if (e || !v) throw new UserError(`the result of chunk ${s + k} of run ${o.run} vanished from Redis (evicted? give Redis more memory or set maxmemory-policy noeviction); rerun the same command`);
        results.push(v as Buffer);
      });
    }
    const keys = o.jobs.map((j) => resultKey(o.run, j.chunk));
    const url = o.redis;
    const log = o.log;
    return {
      results,
      queued: todo.length,
      async finish() {
        const r = connectRedis(url, log);
        for (let s = 0; s < keys.length; s += 1000) await r.del(...keys.slice(s, s + 1000));
        r.disconnect();
      },
    };
  } finally {
    await closeAll();
  }
}
