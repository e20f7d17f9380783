/**
 * Sharded runs on a real Redis and real worker processes: a sharded evaluation and attack give
 * the local run's JSON (apart from clocks and the command line); a worker SIGKILLed mid-job has
 * its job retried by another with the same final JSON; a coordinator SIGKILLed and restarted
 * queues only the unfinished chunks; bad input (password, unreachable Redis, a job for an
 * unknown attack, a model hash mismatch, a failing job) gives one line.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { HAVE_REDIS, freePort, startRedis, type TestRedis } from './redis-server.js';
import { QUEUE_NAME } from '../src/distributed/redis.js';
import { JOB_VERSION } from '../src/distributed/job.js';
import { BIN } from './cli-helpers.js';

const PASSWORD = 'test-secret';
const skip = HAVE_REDIS ? false : 'redis-server is not installed (apt-get install redis-server)';

interface Ran {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function envWith(killAt?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0' };
  delete env.ADVTRAIN_TEST_KILL_AT;
  if (killAt) env.ADVTRAIN_TEST_KILL_AT = killAt;
  return env;
}

/** `advtrain ARGS` as a child process, without blocking this one (workers log meanwhile). */
function cli(args: string[], killAt?: string): Promise<Ran> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { env: envWith(killAt) });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

interface RunningWorker {
  proc: ChildProcess;
  log: () => string;
  ready: Promise<void>;
  exited: Promise<NodeJS.Signals | number | null>;
  stop(): Promise<void>;
}

/** `advtrain worker` on the test's Redis, started and followed through its log lines. */
function worker(url: string, extra: string[] = [], killAt?: string): RunningWorker {
  const proc = spawn(process.execPath, [BIN, 'worker', '--redis', url, '--backend', 'wasm', '--threads', '1', ...extra], { env: envWith(killAt) });
  let log = '';
  const ready = new Promise<void>((resolve, reject) => {
    proc.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (/worker ready/.test(log)) resolve();
    });
    proc.once('exit', () => reject(new Error(`worker exited before it was ready: ${log}`)));
  });
  ready.catch(() => {});
  const exited = new Promise<NodeJS.Signals | number | null>((r) => proc.once('exit', (code, sig) => r(sig ?? code)));
  return {
    proc,
    log: () => log,
    ready,
    exited,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** A result file without what measures the clock or records the command line. */
function withoutClock(path: string): string {
  const drop = new Set(['time_s', 'created', 'seconds', 'command']);
  return JSON.stringify(JSON.parse(readFileSync(path, 'utf8'), (k, v) => (drop.has(k) ? undefined : v)));
}

let redis: TestRedis;
let root: string;
let model: string;
/** Two workers every test after the first shares (started by the first, as the rescuers of its killed worker). */
let shared: RunningWorker[] = [];
/** Short locks, so a killed worker's job is retried within seconds; the data loaded before any job takes a lock. */
const LOCK = ['--lock-seconds', '5', '--preload', 'mnist'];
const EVAL = ['--dataset', 'mnist', '--threat', 'linf:0.1', '--preset', 'quick', '--n', '60', '--no-checks', '--backend', 'wasm', '--batch-size', '16'];
const ATTACK = ['--dataset', 'mnist', '--attack', 'pgd', '--steps', '5', '--threat', 'linf:0.1', '--n', '40', '--targeted', '--seed', '3', '--backend', 'wasm', '--batch-size', '8'];
const evalArgs = (json: string, ...more: string[]) => ['eval', '--model', model, ...EVAL, '--json', json, ...more];
const refEval = () => join(root, 'eval-local.json');

before(async () => {
  if (skip) return;
  root = mkdtempSync(join(tmpdir(), 'advtrain-dist-'));
  model = join(root, 'm');
  redis = await startRedis(PASSWORD);
  const t = await cli(['train', '--dataset', 'mnist', '--model', 'mlp', '--epochs', '1', '--n', '200', '--backend', 'wasm', '--out', model]);
  assert.equal(t.status, 0, t.stderr);
  const r = await cli(evalArgs(refEval()));
  assert.equal(r.status, 0, r.stderr);
});

after(async () => {
  if (skip) return;
  await Promise.all(shared.map((w) => w.stop()));
  await redis.stop();
  rmSync(root, { recursive: true, force: true });
});

test('a worker SIGKILLed mid-job: other workers take the job over and the JSON is the local one', { skip }, async () => {
  // The doomed worker is alone when the jobs arrive, so it takes one and dies after its first batch.
  const doomed = worker(redis.url, LOCK, 'worker-batch:1');
  await doomed.ready;
  const out = join(root, 'eval-killed-worker.json');
  const coordinator = cli(evalArgs(out, '--redis', redis.url, '--chunk', '7'));
  assert.equal(await doomed.exited, 'SIGKILL', doomed.log());
  shared = [worker(redis.url, LOCK), worker(redis.url, LOCK)];
  const r = await coordinator;
  assert.equal(r.status, 0, r.stderr);
  assert.equal(withoutClock(out), withoutClock(refEval()));
});

test('a sharded eval and a sharded attack (model by path) give the local JSON', { skip }, async () => {
  await Promise.all(shared.map((w) => w.ready));
  const out = join(root, 'eval-sharded.json');
  const r = await cli(evalArgs(out, '--redis', redis.url, '--chunk', '4'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /sharding \d+ clean-correct examples into \d+ jobs of up to 4/);
  assert.equal(withoutClock(out), withoutClock(refEval()));
  const recorded = JSON.parse(readFileSync(out, 'utf8')) as { command: { argv: string[] } };
  assert.ok(!recorded.command.argv.join(' ').includes(PASSWORD), 'the password is not recorded in the result');
  const localAttack = join(root, 'attack-local.json');
  const a = await cli(['attack', '--model', model, ...ATTACK, '--json', localAttack]);
  assert.equal(a.status, 0, a.stderr);
  const shardedAttack = join(root, 'attack-sharded.json');
  const b = await cli(['attack', '--model', model, ...ATTACK, '--json', shardedAttack, '--redis', redis.url, '--chunk', '10', '--model-via', 'path']);
  assert.equal(b.status, 0, b.stderr);
  assert.match(b.stderr, /into 3 jobs of up to 16/, 'attack chunks are whole batches');
  assert.equal(withoutClock(shardedAttack), withoutClock(localAttack));
});

test('a coordinator SIGKILLed and restarted queues only the chunks not done, and writes the same JSON', { skip }, async () => {
  const out = join(root, 'eval-restarted.json');
  const killed = await cli(evalArgs(out, '--redis', redis.url, '--chunk', '7'), 'coordinator-chunk:2');
  assert.equal(killed.signal, 'SIGKILL', killed.stderr);
  const jobs = Number(/into (\d+) jobs/.exec(killed.stderr)![1]);
  const run = /\(run ([0-9a-f]+)\)/.exec(killed.stderr)![1]!;
  const again = await cli(evalArgs(out, '--redis', redis.url, '--chunk', '7'));
  assert.equal(again.status, 0, again.stderr);
  const resumed = /resuming sharded run [0-9a-f]+: (\d+) of (\d+) chunks already done/.exec(again.stderr);
  assert.ok(resumed && Number(resumed[1]) >= 2 && Number(resumed[2]) === jobs, again.stderr);
  const queued = Number(/queued (\d+) jobs/.exec(again.stderr)?.[1] ?? 0);
  assert.equal(queued, jobs - Number(resumed[1]), 'the restart queues only the chunks without a result');
  assert.equal(withoutClock(out), withoutClock(refEval()));
  const ran = new Set(shared.flatMap((w) => [...w.log().matchAll(new RegExp(`job ${run}-(\\d+) done`, 'g'))].map((m) => Number(m[1]))));
  assert.equal(ran.size, jobs, 'every chunk ran');
});

test('bad input gives one line: wrong password, unreachable Redis, a failing job', { skip }, async () => {
  const wrong = await cli(evalArgs(join(root, 'x.json'), '--redis', `redis://:wrong@127.0.0.1:${redis.port}`));
  assert.equal(wrong.status, 2);
  assert.equal(wrong.stderr.trim().split('\n').length, 1, wrong.stderr);
  assert.match(wrong.stderr, /^advtrain: error: Redis at redis:\/\/127\.0\.0\.1:\d+ refused the password in --redis \(WRONGPASS\)/);
  assert.ok(!wrong.stderr.includes('wrong@'), 'the password is not printed');
  const port = await freePort();
  const gone = await cli(['worker', '--redis', `redis://127.0.0.1:${port}`]);
  assert.equal(gone.status, 2);
  assert.equal(gone.stderr.trim(), `advtrain: error: cannot reach Redis at redis://127.0.0.1:${port} (connection refused): start redis-server there, or fix the host and port in --redis`);
  // The shared workers run wasm; a run started on cpu fails with the first job's message.
  const cpu = await cli(['eval', '--model', model, ...EVAL.slice(0, -4), '--backend', 'cpu', '--batch-size', '16', '--json', join(root, 'y.json'), '--redis', redis.url, '--chunk', '30']);
  assert.equal(cpu.status, 2, cpu.stderr);
  assert.match(cpu.stderr, /advtrain: error: chunk \d+ of \d+ \(job [0-9a-f]+-\d+\) failed on a worker: this worker runs the wasm engine, but run [0-9a-f]+ was started on cpu: start workers with --backend cpu/);
});

test('a worker refuses a job for an unknown attack, bad indices or a model whose hash does not match, in one line each', { skip }, async () => {
  const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  const queue = new Queue(QUEUE_NAME, { connection });
  try {
    const base = {
      v: JOB_VERSION,
      run: 'f'.repeat(32),
      chunk: 0,
      model: { via: 'path', path: model, sha256: '0'.repeat(64) },
      data: { dataset: 'mnist', split: 'test', n: 10, sha256: '0'.repeat(64) },
      threat: 'linf:0.1',
      seed: 0,
      batchSize: 8,
      backend: 'wasm',
      indices: [0, 1, 2],
      kind: 'attack',
      flags: {},
      targeted: false,
      keep: 0,
    };
    // The job's own record, polled: its failure reason once a worker has refused it.
    const failure = async (data: object, id: string) => {
      await queue.add('attack', data, { jobId: id, attempts: 1 });
      for (;;) {
        const job = await Job.fromId(queue, id);
        if (job?.failedReason) return job.failedReason;
        if (job && (await job.isCompleted())) return 'completed';
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const { attackNames } = await import('../src/attacks/registry.js');
    assert.equal(await failure({ ...base, attack: 'no-such-attack' }, 'bad-attack'), `invalid job: attack is "no-such-attack": unknown attack (known: ${attackNames().join(', ')})`);
    assert.equal(await failure({ ...base, attack: 'pgd', indices: [2, 1] }, 'bad-indices'), 'invalid job: indices are not strictly increasing');
    assert.match(await failure({ ...base, attack: 'pgd' }, 'bad-hash'), /^model hash mismatch: .*m on this worker has sha256 [0-9a-f]{16}…, the run expects 0{16}…/);
  } finally {
    await queue.close();
    connection.disconnect();
  }
});
