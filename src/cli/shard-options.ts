import { Option } from 'commander';
import { positiveInt } from './options.js';
import { UserError } from '../errors.js';

/** The options `eval` and `attack` take to shard their work over `advtrain worker`s. */
export interface ShardFlags {
  redis?: string;
  chunk: number;
  modelVia: 'redis' | 'path';
}

/** `--redis`, `--chunk`, `--model-via`. */
export function shardOptions(): Option[] {
  return [
    new Option('--redis <url>', 'shard the work over `advtrain worker` processes through this Redis: redis://HOST:PORT (redis://:PASSWORD@HOST:PORT, rediss:// for TLS); same results as a local run'),
    new Option('--chunk <n>', 'with --redis: examples per job').argParser(positiveInt).default(250),
    new Option('--model-via <how>', 'with --redis: how workers get the model: its bytes stored once in Redis, or its path (shared storage at the same path)').choices(['redis', 'path']).default('redis'),
  ];
}

/** The command line with any password in a --redis URL replaced by '***' (result files record the command). */
export function redactRedis(argv: string[]): string[] {
  return argv.map((a, i) => {
    const url = argv[i - 1] === '--redis' ? a : a.startsWith('--redis=') ? a.slice(8) : undefined;
    if (url === undefined) return a;
    try {
      const u = new URL(url);
      if (u.password) u.password = '***';
      return a.startsWith('--redis=') ? `--redis=${u}` : u.toString();
    } catch {
      return a;
    }
  });
}

/** Before any work: the combinations a sharded run refuses, and Redis reachable with the given password. */
export async function checkShardInputs(o: { redis?: string; model: string; surrogate?: string }): Promise<void> {
  if (!o.redis) return;
  if (o.surrogate !== undefined) throw new UserError('--surrogate (transfer attacks) does not shard: drop --redis to run it locally');
  if (o.model.toLowerCase().endsWith('.onnx')) throw new UserError(`--redis shards TF.js models only; ${o.model} is ONNX: drop --redis to attack it locally`);
  // Loaded only for sharded runs: other commands do not pay for the queue client's start-up.
  const { probeRedis } = await import('../distributed/redis.js');
  await probeRedis(o.redis);
}
