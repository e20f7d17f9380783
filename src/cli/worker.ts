import { Command, Option } from 'commander';
import { engineOptions, positiveInt, positiveNumber } from './options.js';
import { log } from './common.js';

interface WorkerCliOptions {
  redis: string;
  concurrency: number;
  backend: string;
  threads?: number;
  lockSeconds: number;
  preload?: string;
}

/**
 * Runs a shard worker until SIGINT or SIGTERM (it finishes the jobs in hand, then exits).
 *
 * @example
 * ```ts
 * await runWorkerCommand({ redis: 'redis://127.0.0.1:6379', concurrency: 1, backend: 'auto', lockSeconds: 120 });
 * ```
 */
export async function runWorkerCommand(o: WorkerCliOptions): Promise<void> {
  const { checkRedisUrl } = await import('../distributed/redis.js');
  checkRedisUrl(o.redis);
  const { startWorker } = await import('../distributed/worker.js');
  const w = await startWorker({ redis: o.redis, concurrency: o.concurrency, backend: o.backend, threads: o.threads, lockSeconds: o.lockSeconds, preload: o.preload?.split(',').filter(Boolean), log });
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log(`${sig}: finishing the jobs in hand, then stopping`);
      void w.close().then(resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}

/** The `worker` command. */
export function workerCommand(): Command {
  const cmd = new Command('worker')
    .description('serve sharded `eval --redis` and `attack --redis` runs: take jobs from the Redis queue until stopped')
    .requiredOption('--redis <url>', 'the Redis the coordinators use: redis://HOST:PORT (redis://:PASSWORD@HOST:PORT, rediss:// for TLS)')
    .addOption(new Option('--concurrency <n>', 'jobs this process runs at once (they share its engine and threads)').argParser(positiveInt).default(1))
    .option('--preload <datasets>', 'load these data sets (comma-separated names or paths) before taking jobs')
    .addOption(new Option('--lock-seconds <s>', "a job's lock without renewal (renewed between batches): a killed worker's job is retried after about 1.5 × this").argParser(positiveNumber).default(120));
  for (const opt of engineOptions()) cmd.addOption(opt);
  return cmd.action(async (o: WorkerCliOptions) => {
    await runWorkerCommand(o);
  });
}
