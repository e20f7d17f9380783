/**
 * Throughput of the zoo models per engine: examples/s of one training step (forward, backward,
 * Adam update) and of one input gradient (the inner step of every attack), batch 64, median of
 * repeated timed runs after warm-up; effective GFLOP/s; the machine's FMA peak; and, where
 * PyTorch is installed (/usr/bin/python3), the same models in PyTorch with the same threads and
 * the ratio to it. PyTorch is a benchmark peer only, never a dependency.
 *
 *   npm run bench -- [--backends native,wasm,cpu] [--models madry-cnn,mlp,tabular-mlp] [--batch 64]
 *                    [--seconds 3] [--rounds 5] [--threads N] [--no-torch] [--no-peak] [--json]
 *
 * The native engine and PyTorch alternate `--rounds` times (each round times every model once on
 * each): figures are medians over rounds, each ratio the median of the per-round ratios (printed
 * after it), so that a change of machine load hits both sides. wasm and cpu run in round 1 only.
 *
 * Besides the zoo, `tabular-mlp`: the zoo's mlp on a tabular-sized input (120 features, two hidden
 * layers of 256, 2 classes) at its own batch of 256, as the tabular attacks and trainers run it.
 *
 * `--json`: one JSON object per line, {"model","mode","batch","backend","threads","ex_per_s","gflops","rounds"}
 * (PyTorch rows have backend "pytorch"), then {"fma_peak_gflops", "threads"}.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { selectBackend } from '../src/engine/backend.js';
import { summarize } from '../src/eval/stats.js';
import { buildZooModel, TOKEN_ZOO_NAMES, ZOO_NAMES } from '../src/model/zoo.js';
import { flopsPerExample } from './flops.js';
import { makeOptimizer } from '../src/training/optimizers.js';
import { benchSteps, randomLabels } from './step.js';
import { measureFmaPeak } from './fma-peak.js';

const { values } = parseArgs({
  options: {
    backends: { type: 'string', default: 'native,wasm' },
    models: { type: 'string', default: ZOO_NAMES.join(',') },
    batch: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '3' },
    threads: { type: 'string', default: String(availableParallelism()) },
    'no-torch': { type: 'boolean', default: false },
    'no-peak': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '5' },
  },
});
const batch = Number(values.batch);
const budget = Number(values.seconds);
const threads = Number(values.threads);
const models = values.models!.split(',');
const rounds = Number(values.rounds);
const here = dirname(fileURLToPath(import.meta.url));
const benchSrc = join(here, '..', '..', 'bench');
const TEXT_LEN = 100;

/** Bench-only models: a zoo model on another input, at a batch of its own. */
const EXTRA_MODELS: Record<string, { zoo: string; inputShape: number[]; numClasses: number; batch: number }> = {
  'tabular-mlp': { zoo: 'mlp', inputShape: [120], numClasses: 2, batch: 256 },
};

/** The model `name` (a zoo name or an extra one) with its input shape, classes and batch. */
function benchModel(name: string): { model: tfl.Sequential; inputShape: number[]; numClasses: number; batch: number; token: boolean } {
  const extra = EXTRA_MODELS[name];
  if (extra) return { model: buildZooModel(extra.zoo, { ...extra, seed: 0 }), ...extra, token: false };
  const token = TOKEN_ZOO_NAMES.includes(name as never);
  const inputShape = token ? [TEXT_LEN] : [28, 28, 1];
  const numClasses = token ? 2 : 10;
  return { model: buildZooModel(name, { inputShape, numClasses, seed: 0 }), inputShape, numClasses, batch, token };
}

type Row = { model: string; mode: 'train' | 'igrad'; batch: number; backend: string; threads: number; ex_per_s: number; gflops: number };
const rows: Row[] = [];
const say = (line: string) => {
  if (!values.json) console.log(line);
};
const emit = (rec: object) => {
  if (values.json) console.log(JSON.stringify(rec));
};

/** Runs `fn` once to warm up, then times single runs until the budget is spent (3 at least). */
function timeIt(fn: () => void): number[] {
  fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 3 || (performance.now() - start < budget * 1000 && times.length < 50)) {
    const t = performance.now();
    fn();
    times.push((performance.now() - t) / 1000);
  }
  return times;
}

/**
 * The model's training step and input gradient on a fixed random batch, with what the Trainer
 * runs (the native Adam on the native engine) at learning rate 0: the same work per step, but the
 * weights stay put. Trained on one fixed batch, a model fits it within ~30 steps; its gradients
 * then sink into the denormal range, where an engine that keeps denormals (PyTorch by default,
 * this one with ADVTRAIN_NATIVE_DENORMALS=keep) runs 5–8× slower.
 */
function steps(model: tfl.Sequential, x: tf.Tensor, y: tf.Tensor2D) {
  const opt = makeOptimizer('adam', 0);
  const s = benchSteps(model, x, y, opt);
  return { ...s, dispose: () => (s.dispose(), opt.dispose()) };
}

/** One timed pass of every model on one backend: a row per model and mode. */
async function tfjsPass(backend: string, models: string[]): Promise<Row[] | string> {
  const info = await selectBackend(backend, backend === 'native' ? { threads } : {});
  if (info.name !== backend) return info.reason;
  const t = backend === 'native' ? threads : 1; // wasm and cpu run on the JS thread in Node
  const out: Row[] = [];
  for (const name of models) {
    const { model, inputShape, numClasses, batch, token } = benchModel(name);
    const flops = flopsPerExample(model);
    const x = token ? tf.randomUniform([batch, TEXT_LEN], 0, 20000, 'int32', 1) : tf.randomUniform([batch, ...inputShape], 0, 1, 'float32', 1);
    const y = randomLabels(batch, numClasses);
    const s = steps(model, x, y);
    for (const mode of ['train', 'igrad'] as const) {
      const exps = batch / summarize(timeIt(mode === 'train' ? s.train : s.igrad)).median!;
      out.push({ model: name, mode, batch, backend, threads: t, ex_per_s: exps, gflops: (exps * flops[mode]) / 1e9 });
    }
    s.dispose();
    tf.dispose([x, y]);
    model.dispose();
  }
  return out;
}

/** One timed pass of the PyTorch peer over every model, or why it cannot run. */
function torchPass(models: string[]): { rows: Row[]; version: string } | string {
  const r = spawnSync('/usr/bin/python3', [join(benchSrc, 'torch_peer.py'), String(threads), String(batch), String(budget), models.join(',')], { encoding: 'utf8' });
  if (r.status !== 0) return `failed (${(r.stderr || '').trim().split('\n').pop()})`;
  const lines = (r.stdout || '').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  const meta = lines.find((l) => 'torch' in l);
  const out: Row[] = [];
  for (const l of lines.filter((l) => 'model' in l)) {
    const name = l.model as string;
    const mode = l.mode as 'train' | 'igrad';
    const { model } = benchModel(name);
    const flops = flopsPerExample(model)[mode];
    model.dispose();
    const exps = l.ex_per_s as number;
    out.push({ model: name, mode, batch: l.batch as number, backend: 'pytorch', threads, ex_per_s: exps, gflops: (exps * flops) / 1e9 });
  }
  return { rows: out, version: `pytorch ${meta?.torch} (${meta?.openblas ? 'OpenBLAS' : 'no OpenBLAS: reference BLAS, slow'}), ${threads} threads` };
}

// Rounds: the native engine and PyTorch alternate model by model, so that both see the same
// machine load (this machine's clock varies by ±15% over minutes); the figures are medians over rounds and each ratio is the median of the per-round
// ratios. The reference backends (wasm, cpu) are slow and run in the first round only.
const backends = values.backends!.split(',');
let torch = !values['no-torch'];
if (torch && spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status !== 0) {
  say('pytorch: not installed, no ratios (apt-get install python3-torch libopenblas0-pthread; it runs on /usr/bin/python3)');
  torch = false;
}
const perRound: Row[][] = [];
const notes = new Map<string, string>();
for (let r = 0; r < rounds; r++) {
  const round: Row[] = [];
  // Model by model, each engine right after the other: the machine's clock drifts over seconds.
  for (const name of models) {
    for (const backend of backends) {
      if (r > 0 && backend !== 'native') continue;
      const got = await tfjsPass(backend, [name]);
      if (typeof got === 'string') notes.set(backend, `${backend}: not available (${got})`);
      else round.push(...got);
    }
    if (torch) {
      const got = torchPass([name]);
      if (typeof got === 'string') notes.set('pytorch', `pytorch: ${got}`);
      else {
        notes.set('pytorch', got.version);
        round.push(...got.rows);
      }
    }
  }
  perRound.push(round);
  if (!values.json) process.stderr.write(`round ${r + 1}/${rounds} done\n`);
}
for (const n of notes.values()) say(n);

const key = (o: Row) => `${o.backend}|${o.model}|${o.mode}`;
const median = (xs: number[]) => summarize(xs).median!;
for (const backend of [...backends, ...(torch ? ['pytorch'] : [])]) {
  for (const name of models) {
    for (const mode of ['train', 'igrad'] as const) {
      const runs = perRound.flatMap((round) => round.filter((o) => key(o) === `${backend}|${name}|${mode}`));
      if (runs.length === 0) continue;
      const exps = median(runs.map((o) => o.ex_per_s));
      const row: Row = { ...runs[0]!, ex_per_s: Math.round(exps), gflops: +median(runs.map((o) => o.gflops)).toFixed(1) };
      rows.push(row);
      emit({ ...row, rounds: runs.length });
      let ratio = '';
      if (backend === 'pytorch') {
        const ratios = backends.map((b) => {
          const rs = perRound.flatMap((round) => {
            const ours = round.find((o) => key(o) === `${b}|${name}|${mode}`);
            const theirs = round.find((o) => key(o) === `pytorch|${name}|${mode}`);
            return ours && theirs ? [ours.ex_per_s / theirs.ex_per_s] : [];
          });
          return rs.length ? `${b} ${median(rs).toFixed(2)}× (${rs.map((x) => x.toFixed(2)).join(' ')})` : '';
        });
        ratio = `  ratio to pytorch: ${ratios.filter(Boolean).join(', ')}`;
      }
      say(`${backend.padEnd(7)} ${name.padEnd(16)} ${mode.padEnd(6)} ${String(row.ex_per_s).padStart(7)} ex/s ${String(row.gflops).padStart(6)} GFLOP/s  (median of ${runs.length} round${runs.length > 1 ? 's' : ''}, ${row.threads} thread${row.threads > 1 ? 's' : ''})${ratio}`);
    }
  }
}

// ---- the FMA peak of the cores the native engine uses ------------------------------------------
if (!values['no-peak']) {
  const peak = measureFmaPeak(threads);
  if ('error' in peak) say(`FMA peak: not measured (${peak.error})`);
  else {
    emit({ fma_peak_gflops: peak.gflops, threads, vector_bits: peak.vector_bits });
    say(`FMA peak: ${peak.gflops} GFLOP/s on ${threads} threads (${peak.vector_bits}-bit FMA)`);
    for (const o of rows.filter((o) => o.model === 'madry-cnn' && o.backend === 'native')) {
      say(`  native madry-cnn ${o.mode}: ${o.gflops} GFLOP/s = ${((100 * o.gflops) / peak.gflops).toFixed(0)}% of peak`);
    }
  }
}
