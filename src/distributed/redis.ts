import { Redis, type RedisOptions } from 'ioredis';
import { UserError } from '../errors.js';

/** The one BullMQ queue every advtrain coordinator fills and every worker drains. */
export const QUEUE_NAME = 'advtrain-shards';

/** Where a Redis URL points, for messages: scheme, host and port, never the password. */
export function redisPlace(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.hostname}:${u.port || '6379'}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
  } catch {
    return '(unparsable URL)';
  }
}

/**
 * Checks the form of a `--redis` URL: `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`, or
 * `rediss://…` for TLS (ioredis's forms). Throws one line naming the fix otherwise.
 */
export function checkRedisUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError(`--redis '${url}' is not a URL: use redis://HOST:PORT (redis://:PASSWORD@HOST:PORT with a password, rediss://… for TLS)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new UserError(`--redis must start with redis:// (or rediss:// for TLS), not ${u.protocol}//: e.g. redis://127.0.0.1:6379`);
  }
  if (!u.hostname) throw new UserError(`--redis ${redisPlace(url)} names no host: e.g. redis://127.0.0.1:6379`);
}

/** One line for an error from connecting to Redis, naming the place and the likely fix. */
export function redisErrorLine(url: string, e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const place = redisPlace(url);
  if (/WRONGPASS|invalid password|invalid username-password/i.test(msg)) return `Redis at ${place} refused the password in --redis (WRONGPASS): put the right one in the URL, redis://:PASSWORD@HOST:PORT`;
  if (/NOAUTH/i.test(msg)) return `Redis at ${place} requires a password: give it in the URL, redis://:PASSWORD@HOST:PORT`;
  if (/without any password configured/i.test(msg)) return `Redis at ${place} has no password set, but --redis gives one: drop it from the URL`;
  if (/ECONNREFUSED/.test(msg)) return `cannot reach Redis at ${place} (connection refused): start redis-server there, or fix the host and port in --redis`;
  if (/ENOTFOUND|EAI_AGAIN/.test(msg)) return `cannot reach Redis at ${place} (unknown host): fix the host in --redis`;
  if (/ETIMEDOUT|timed? ?out/i.test(msg)) return `cannot reach Redis at ${place} (timed out): check the host, port and firewall`;
  if (/SSL|TLS|certificate|EPROTO/i.test(msg)) return `TLS to Redis at ${place} failed (${msg.split('\n')[0]}): use rediss:// only where Redis serves TLS; for a private CA set NODE_EXTRA_CA_CERTS`;
  return `Redis at ${place}: ${msg.split('\n')[0]}`;
}

/**
 * Connects to Redis once, fails fast and in one line (unreachable, wrong password, not Redis),
 * and returns nothing: run before any work so bad input costs one line.
 */
export async function probeRedis(url: string, timeoutMs = 5000): Promise<void> {
  checkRedisUrl(url);
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: timeoutMs });
  // ioredis rejects connect() with 'Connection is closed'; the cause comes as an 'error' event.
  let cause: unknown;
  probe.on('error', (e: unknown) => (cause ??= e));
  try {
    await probe.connect();
    await probe.ping();
  } catch (e) {
    throw new UserError(redisErrorLine(url, cause ?? e));
  } finally {
    probe.disconnect();
  }
}

/**
 * A connection for BullMQ and for advtrain's own keys (results, model bytes): reconnects as
 * ioredis does and logs each new kind of connection error once.
 */
export function connectRedis(url: string, log: (s: string) => void, extra: RedisOptions = {}): Redis {
  const seen = new Set<string>();
  const r = new Redis(url, { maxRetriesPerRequest: null, ...extra });
  r.on('error', (e: unknown) => {
    const line = redisErrorLine(url, e);
    if (!seen.has(line)) log(`warning: ${line} (retrying)`);
    seen.add(line);
  });
  return r;
}
