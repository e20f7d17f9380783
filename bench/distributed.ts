/**
 * Sharded evaluation on this machine: the same `advtrain eval` as a local run with 2 threads, as
 * 1 worker × 2 threads and as 2 workers × 1 thread (through a Redis it starts on a free loopback
 * port), interleaved round by round so the machine's load hits each alike; then the queue's
 * overhead per job, from many one-example jobs whose compute each worker measures.
 *
 *   node build/bench/distributed.js [--preset quick] [--n 200] [--chunk 50] [--rounds 2] [--backend wasm] [--jobs 64]
 *
 * Wall times are of the whole CLI (start-up, data, clean pass, ensemble, margin); workers are
 * started and warmed up (data and model loaded, engine compiled) before each timed run, as
 * long-running workers are. Overhead per job = (the coordinator's time from queueing to the
 * last result − Σ the jobs' own compute time) / jobs, with one worker: what the queue, the
 * result transfer and the merge cost a chunk.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    preset: { type: 'string', default: 'quick' },
    n: { type: 'string', default: '200' },
    chunk: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '2' },
    backend: { type: 'string', default: 'wasm' },
    jobs: { type: 'string', default: '64' },
    model: { type: 'string' },
  },
});
const BIN = fileURLToPath(new URL('../../bin/advtrain.js', import.meta.url));
const backend = values.backend!;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function run(args: string[]): Promise<{ code: number | null; stderr: string; wall: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => resolve({ code, stderr, wall: (performance.now() - t0) / 1000 }));
  });
}

function must(r: { code: number | null; stderr: string }, what: string): void {
  if (r.code !== 0) throw new Error(`${what} failed:\n${r.stderr}`);
}

interface W {
  proc: ChildProcess;
  log: () => string;
}

async function workers(url: string, count: number, threads: number): Promise<W[]> {
  const ws = Array.from({ length: count }, () => {
    const proc = spawn(process.execPath, [BIN, 'worker', '--redis', url, '--backend', backend, '--threads', String(threads)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    return { proc, log: () => log };
  });
  await Promise.all(ws.map((w) => new Promise<void>((r) => {
    const t = setInterval(() => /worker ready/.test(w.log()) && (clearInterval(t), r()), 50);
  })));
  return ws;
}

async function stop(ws: W[]): Promise<void> {
  await Promise.all(ws.map((w) => new Promise((r) => {
    w.proc.once('exit', r);
    w.proc.kill('SIGTERM');
  })));
}

const jobSeconds = (log: string) => [...log.matchAll(/ done: \d+ examples in ([\d.]+) s/g)].reduce((a, m) => a + Number(m[1]), 0);
const shardedSeconds = (stderr: string) => Number(/chunks done in ([\d.]+) s after queueing/.exec(stderr)?.[1] ?? NaN);

const root = mkdtempSync(join(tmpdir(), 'advtrain-bench-dist-'));
const port = await freePort();
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', root], { stdio: ['ignore', 'pipe', 'ignore'] });
await new Promise<void>((r) => {
  let out = '';
  redis.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    if (/Ready to accept/.test(out)) r();
  });
});
const url = `redis://127.0.0.1:${port}`;
try {
  let model = values.model;
  if (!model) {
    model = join(root, 'm');
    must(await run(['train', '--dataset', 'mnist', '--model', 'mlp', '--epochs', '1', '--n', '2000', '--backend', backend, '--out', model]), 'training');
  }
  const evalArgs = (threads: number, json: string, ...more: string[]) => ['eval', '--model', model!, '--dataset', 'mnist', '--threat', 'linf:0.1', '--preset', values.preset!, '--n', values.n!, '--no-checks', '--backend', backend, '--threads', String(threads), '--json', join(root, json), ...more];
  const warm = ['attack', '--model', model, '--dataset', 'mnist', '--attack', 'fgsm', '--n', '8', '--batch-size', '4', '--backend', backend, '--redis', url, '--chunk', '4', '--threads', '1'];
  const configs: { name: string; count: number; threads: number }[] = [
    { name: 'local, 2 threads', count: 0, threads: 2 },
    { name: '1 worker x 2 threads', count: 1, threads: 2 },
    { name: '2 workers x 1 thread', count: 2, threads: 1 },
  ];
  const walls = new Map<string, number[]>(configs.map((c) => [c.name, []]));
  console.log(`eval ${values.preset} on ${values.n} mnist examples (mlp), ${backend}, --chunk ${values.chunk}, ${values.rounds} rounds interleaved`);
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const c of configs) {
      if (c.count === 0) {
        const res = await run(evalArgs(2, `local-${r}.json`));
        must(res, c.name);
        walls.get(c.name)!.push(res.wall);
        console.log(`  round ${r + 1} ${c.name.padEnd(22)} ${res.wall.toFixed(1)} s`);
        continue;
      }
      const ws = await workers(url, c.count, c.threads);
      for (let k = 0; k < c.count; k++) must(await run(warm), 'warm-up');
      const before = ws.map((w) => jobSeconds(w.log())).reduce((a, b) => a + b, 0);
      const res = await run(evalArgs(1, `sharded-${c.count}-${r}.json`, '--redis', url, '--chunk', values.chunk!));
      must(res, c.name);
      const compute = ws.map((w) => jobSeconds(w.log())).reduce((a, b) => a + b, 0) - before;
      walls.get(c.name)!.push(res.wall);
      console.log(`  round ${r + 1} ${c.name.padEnd(22)} ${res.wall.toFixed(1)} s (sharded phase ${shardedSeconds(res.stderr).toFixed(1)} s, jobs' compute ${compute.toFixed(1)} s)`);
      await stop(ws);
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const local = med(walls.get(configs[0]!.name)!);
  console.log('median wall time, ratio to local:');
  for (const c of configs) console.log(`  ${c.name.padEnd(22)} ${med(walls.get(c.name)!).toFixed(1)} s  ${(med(walls.get(c.name)!) / local).toFixed(2)}x`);

  // Queue overhead: one-example jobs on one warm worker.
  const jobs = Number(values.jobs);
  const ws = await workers(url, 1, 1);
  must(await run(warm), 'warm-up');
  const before = jobSeconds(ws[0]!.log());
  const res = await run(['attack', '--model', model, '--dataset', 'mnist', '--attack', 'fgsm', '--n', String(jobs), '--batch-size', '1', '--backend', backend, '--threads', '1', '--redis', url, '--chunk', '1', '--seed', '1']);
  must(res, 'overhead run');
  const compute = jobSeconds(ws[0]!.log()) - before;
  const phase = shardedSeconds(res.stderr);
  await stop(ws);
  console.log(`queue overhead: ${jobs} one-example fgsm jobs on 1 worker: ${phase.toFixed(2)} s from queueing to the last result, ${compute.toFixed(2)} s of it computing: ${(((phase - compute) / jobs) * 1000).toFixed(1)} ms per job`);
} finally {
  redis.kill('SIGTERM');
  rmSync(root, { recursive: true, force: true });
}
