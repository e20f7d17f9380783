/**
 * How far a training step on the native engine is from the machine's FMA peak, and why: in one
 * window, the FMA peak (measured each round), the step (forward, backward, native Adam; batch 64;
 * learning rate 0), the time of the convolutions and matmuls inside that step (oneDNN's
 * primitives, from its verbose mode in a child process so that its printing does not slow the
 * timed steps, and advtrain's convolution-gradient kernels, from their own clock), and the
 * optimizer update alone. It prints the step time a share of the peak would need (`--target 60`:
 * the 60% of issue #3) beside what those kernels and the update alone take. Rounds alternate the
 * peak, the timed steps, the timed updates and the verbose child; figures are medians over rounds.
 *
 *   node build/bench/native-floor.js [--model madry-cnn] [--rounds 5] [--steps 10] [--threads N] [--target 60] [--json]
 *
 * `--json`: one object, {"model","batch","threads","fma_peak_gflops","gflop_per_step","step_ms",
 * "step_pct_of_peak","target_pct","target_step_ms","kernels_ms","kernels_pct_of_peak","update_ms",
 * "other_ms","primitives":{kind: ms per step}}. The GFLOP of a step count the dense work, also where
 * the sparse kernels skip the multiply-adds on zeros of dY (as oneDNN skips those on padding).
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { selectBackend } from '../src/engine/backend.js';
import { loadNativeAddon } from '../src/engine/native/index.js';
import { buildZooModel } from '../src/model/zoo.js';
import { makeOptimizer } from '../src/training/optimizers.js';
import { summarize } from '../src/eval/stats.js';
import { flopsPerExample } from './flops.js';
import { measureFmaPeak } from './fma-peak.js';
import { benchSteps, randomLabels } from './step.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'madry-cnn' },
    rounds: { type: 'string', default: '5' },
    steps: { type: 'string', default: '10' },
    threads: { type: 'string', default: String(availableParallelism()) },
    batch: { type: 'string', default: '64' },
    target: { type: 'string', default: '60' },
    json: { type: 'boolean', default: false },
    child: { type: 'boolean', default: false },
  },
});
const steps = Number(values.steps);
const batch = Number(values.batch);
const threads = Number(values.threads);

const info = await selectBackend('native', { threads });
if (info.name !== 'native') throw new Error(`native-floor: the native engine is not available (${info.reason})`);
const model = buildZooModel(values.model!, { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
const gflop = (flopsPerExample(model).train * batch) / 1e9;
const x = tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 1);
const y = randomLabels(batch, 10);
const opt = makeOptimizer('adam', 0);
const bench = benchSteps(model, x, y, opt);
const { train } = bench;
train();
train();

const loaded = loadNativeAddon();
if (!loaded.ok) throw new Error(loaded.reason);
const addon = loaded.addon;

/** ms so far in advtrain's own convolution-gradient kernels. */
function ownKernelMs(): number {
  const s = addon.convGradStats();
  return s.sparse.ms + s.fewChannel.ms;
}

/** Mean ms per step of `steps` steps, and of advtrain's own convolution-gradient kernels inside them. */
function timeSteps(): { step: number; own: number } {
  const own0 = ownKernelMs();
  const t = performance.now();
  for (let s = 0; s < steps; s++) train();
  return { step: (performance.now() - t) / steps, own: (ownKernelMs() - own0) / steps };
}

if (values.child) {
  // The verbose lines of the timed steps only: creation and warm-up happen before it is switched on.
  addon.setVerbose(1);
  timeSteps();
  addon.setVerbose(0);
  process.exit(0);
}

/** ms per step of each primitive kind ("convolution backward_weights", "matmul", …) in one verbose child run. */
function primitiveRun(): Map<string, number> {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', '--model', values.model!, '--steps', String(steps), '--threads', String(threads), '--batch', String(batch)], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  if (r.status !== 0) throw new Error(`native-floor: the verbose run failed: ${(r.stderr || '').trim().split('\n').pop()}`);
  const byKind = new Map<string, number>();
  for (const line of r.stdout.split('\n')) {
    const f = line.split(',');
    if ((f[0] !== 'onednn_verbose' && f[0] !== 'dnnl_verbose') || f[1] !== 'exec') continue;
    const kind = f[3] === 'convolution' ? `convolution ${f[5]}` : f[3]!;
    byKind.set(kind, (byKind.get(kind) ?? 0) + Number(f[f.length - 1]) / steps);
  }
  return byKind;
}

const grads = bench.gradients();
/** Mean ms of the optimizer update alone, on the gradients of one step. */
function timeUpdate(): number {
  tf.tidy(() => opt.applyGradients(grads));
  const t = performance.now();
  for (let s = 0; s < steps; s++) tf.tidy(() => opt.applyGradients(grads));
  return (performance.now() - t) / steps;
}

/** The FMA peak now, in GFLOP/s. */
function peakNow(): number {
  const p = measureFmaPeak(threads, 1);
  if ('error' in p) throw new Error(`native-floor: no FMA peak (${p.error})`);
  return p.gflops;
}

const peaks: number[] = [];
const stepMs: number[] = [];
const ownMs: number[] = [];
const updateMs: number[] = [];
const runs: Map<string, number>[] = [];
for (let r = 0; r < Number(values.rounds); r++) {
  peaks.push(peakNow());
  const t = timeSteps();
  stepMs.push(t.step);
  ownMs.push(t.own);
  updateMs.push(timeUpdate());
  runs.push(primitiveRun());
}
const median = (xs: number[]) => summarize(xs).median!;
runs.forEach((m, r) => m.set('convolution gradients (advtrain)', ownMs[r]!));
const kinds = [...new Set(runs.flatMap((m) => [...m.keys()]))].sort();
const primitives = Object.fromEntries(kinds.map((k) => [k, median(runs.map((m) => m.get(k) ?? 0))]));
const kernelMs = median(runs.map((m) => [...m.values()].reduce((a, b) => a + b, 0)));
const peak = median(peaks);
const step = median(stepMs);
const update = median(updateMs);
const pct = (ms: number) => (100 * gflop) / (ms / 1e3) / peak;
const target = Number(values.target);
const targetMs = (1e3 * gflop) / ((peak * target) / 100);

if (values.json) {
  console.log(
    JSON.stringify({
      model: values.model,
      batch,
      threads,
      fma_peak_gflops: peak,
      gflop_per_step: gflop,
      step_ms: step,
      step_pct_of_peak: pct(step),
      target_pct: target,
      target_step_ms: targetMs,
      kernels_ms: kernelMs,
      kernels_pct_of_peak: pct(kernelMs),
      update_ms: update,
      other_ms: step - kernelMs - update,
      primitives,
    }),
  );
} else {
  const f = (v: number) => v.toFixed(1);
  console.log(`${values.model} train, batch ${batch}, ${threads} threads: ${gflop.toFixed(2)} GFLOP a step; FMA peak ${peak.toFixed(1)} GFLOP/s (rounds: ${peaks.map((p) => p.toFixed(0)).join(' ')})`);
  console.log(`  step (median of ${stepMs.length} rounds × ${steps}):  ${f(step)} ms = ${f(pct(step))}% of peak   (rounds: ${stepMs.map(f).join(' ')})`);
  console.log(`  ${target}% of peak needs:                ${f(targetMs)} ms`);
  console.log(`  convolutions and matmuls alone:    ${f(kernelMs)} ms = ${f(pct(kernelMs))}% of peak on their own`);
  for (const k of kinds) console.log(`    ${k.padEnd(32)} ${primitives[k]!.toFixed(2).padStart(6)} ms`);
  console.log(`  optimizer update alone (native Adam): ${f(update)} ms`);
  console.log(`  everything else (element-wise kernels, JS dispatch): ${f(step - kernelMs - update)} ms`);
  const left = targetMs - kernelMs - update;
  console.log(`  left for everything else at ${target}% of peak: ${f(left)} ms${left <= 0 ? ' (none: the convolutions, matmuls and update alone take longer)' : ''}`);
}
tf.dispose([x, y, ...Object.values(grads)]);
opt.dispose();
model.dispose();
