/**
 * The native engine against plain wasm, side by side in one process: per kernel (madry-cnn's
 * shapes, batch 64) and per whole step (madry-cnn `train`: forward, backward, Adam update — tfjs's on
 * wasm, the native one on native, as the Trainer runs them; `igrad`:
 * loss gradient w.r.t. the input). Rounds alternate wasm and native so both see the same machine
 * load; figures are medians over rounds.
 *
 *   node build/bench/native-kernels.js [--rounds 7] [--steps 10] [--threads 1,2] [--models madry-cnn] [--no-kernels] [--json]
 *
 * `--threads 1,2` times the native engine once per thread count, beside wasm (single-threaded in Node).
 *
 * "wasm" is the wasm backend with advtrain's wasm training kernels (what `--backend wasm` runs);
 * "native" is the same with the native kernels registered on top.
 */
import * as tf from '@tensorflow/tfjs-core';
import { randomLabels } from './step.js';
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { spawnSync } from 'node:child_process';
import { selectBackend } from '../src/engine/backend.js';
import { registerNativeKernels, unregisterNativeKernels, nativeKernelStats, NativeAdamOptimizer } from '../src/engine/native/index.js';
import { buildZooModel } from '../src/model/zoo.js';
import type * as tfl from '@tensorflow/tfjs-layers';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    steps: { type: 'string', default: '10' },
    threads: { type: 'string', default: String(availableParallelism()) },
    models: { type: 'string', default: 'madry-cnn' },
    batch: { type: 'string', default: '64' },
    'no-kernels': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'no-torch': { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const steps = Number(values.steps);
const threadCounts = values.threads!.split(',').map(Number);
const threads = threadCounts[threadCounts.length - 1]!;
const batch = Number(values.batch);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function say(line: string, rec?: Record<string, unknown>) {
  if (values.json) {
    if (rec) console.log(JSON.stringify(rec));
  } else console.log(line);
}

// ---- setup ----------------------------------------------------------------------------------------

const info = await selectBackend('wasm');
say(`host backend: ${info.name} (${info.reason}); tfjs ${tf.version_core}`);
const probe = registerNativeKernels(threads);
if (!probe.ok) {
  console.log(`native engine unavailable: ${probe.reason}`);
  process.exit(0);
}
say(`native engine: oneDNN ${probe.onednn} (${probe.isa}), ${probe.threads} threads`);
unregisterNativeKernels();

/** 'wasm', or 'native' with its thread count ('native@2'). */
type Engine = string;
const ENGINES: Engine[] = ['wasm', ...threadCounts.map((t) => `native@${t}`)];
function use(engine: Engine) {
  if (engine.startsWith('native@')) registerNativeKernels(Number(engine.slice(7)));
  else unregisterNativeKernels();
}

/** Seconds per call of `fn` for each engine: rounds alternate engines; each round runs `n` calls after one warm-up. */
function compare(fn: () => void, n: number): Record<Engine, number> {
  const times: Record<Engine, number[]> = Object.fromEntries(ENGINES.map((e) => [e, []]));
  for (const e of ENGINES) {
    use(e);
    fn();
  }
  for (let r = 0; r < rounds; r++) {
    for (const e of ENGINES) {
      use(e);
      fn();
      const t = performance.now();
      for (let i = 0; i < n; i++) fn();
      times[e].push((performance.now() - t) / 1000 / n);
    }
  }
  unregisterNativeKernels();
  return Object.fromEntries(ENGINES.map((e) => [e, median(times[e]!)]));
}

// ---- per kernel -----------------------------------------------------------------------------------

if (!values['no-kernels']) {
  const B = batch;
  const rnd = (shape: number[], seed: number) => tf.randomUniform(shape, -1, 1, 'float32', seed);
  const x1 = rnd([B, 28, 28, 1], 1);
  const w1 = rnd([5, 5, 1, 32], 2);
  const b1 = rnd([32], 3);
  const x2 = rnd([B, 14, 14, 32], 4);
  const w2 = rnd([5, 5, 32, 64], 5);
  const b2 = rnd([64], 6);
  const dy2 = rnd([B, 14, 14, 64], 7);
  const dy1 = rnd([B, 28, 28, 32], 8);
  const p1 = rnd([B, 28, 28, 32], 9);
  const dp1 = rnd([B, 14, 14, 32], 10);
  const h = rnd([B, 3136], 11);
  const w3 = rnd([3136, 1024], 12);
  const b3 = rnd([1024], 13);
  const dh = rnd([B, 1024], 14);
  const conv = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined } as const;
  const pool = { filterSize: [2, 2], strides: [2, 2], pad: 'valid', dimRoundingMode: undefined } as const;
  const k = (name: string, inputs: tf.NamedTensorMap, attrs: object) => () => {
    // wasm kernels run synchronously: no read-back needed (it would time a copy, not the kernel)
    const y = tf.engine().runKernel(name, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    y.dispose();
  };
  const cases: [string, number, () => void][] = [
    ['Conv2D 64x28x28x1 * 5x5x1x32', 2 * B * 28 * 28 * 32 * 25, k('Conv2D', { x: x1, filter: w1 }, { ...conv, dilations: [1, 1] })],
    ['FusedConv2D 64x14x14x32 * 5x5x32x64 +b relu', 2 * B * 14 * 14 * 64 * 25 * 32, k('FusedConv2D', { x: x2, filter: w2, bias: b2 }, { ...conv, dilations: [1, 1], activation: 'relu' })],
    ['Conv2D 64x14x14x32 * 5x5x32x64', 2 * B * 14 * 14 * 64 * 25 * 32, k('Conv2D', { x: x2, filter: w2 }, { ...conv, dilations: [1, 1] })],
    ['Conv2DBackpropInput 64x14x14x32 <- 64', 2 * B * 14 * 14 * 64 * 25 * 32, k('Conv2DBackpropInput', { dy: dy2, filter: w2 }, { ...conv, inputShape: [B, 14, 14, 32] })],
    ['Conv2DBackpropFilter 5x5x32x64', 2 * B * 14 * 14 * 64 * 25 * 32, k('Conv2DBackpropFilter', { x: x2, dy: dy2 }, { ...conv, filterShape: [5, 5, 32, 64] })],
    ['Conv2DBackpropFilter 5x5x1x32', 2 * B * 28 * 28 * 32 * 25, k('Conv2DBackpropFilter', { x: x1, dy: dy1 }, { ...conv, filterShape: [5, 5, 1, 32] })],
    ['Conv2DBackpropInput 64x28x28x1 <- 32', 2 * B * 28 * 28 * 32 * 25, k('Conv2DBackpropInput', { dy: dy1, filter: w1 }, { ...conv, inputShape: [B, 28, 28, 1] })],
    ['MatMul 64x3136 * 3136x1024', 2 * B * 3136 * 1024, k('BatchMatMul', { a: tf.reshape(h, [1, B, 3136]), b: tf.reshape(w3, [1, 3136, 1024]) }, { transposeA: false, transposeB: false })],
    ['_FusedMatMul 64x3136 * 3136x1024 +b relu', 2 * B * 3136 * 1024, k('_FusedMatMul', { a: tf.reshape(h, [1, B, 3136]), b: tf.reshape(w3, [1, 3136, 1024]), bias: b3 }, { transposeA: false, transposeB: false, activation: 'relu' })],
    ['MatMul dx = dy * Wt (64x1024 * (3136x1024)t)', 2 * B * 3136 * 1024, k('BatchMatMul', { a: tf.reshape(dh, [1, B, 1024]), b: tf.reshape(w3, [1, 3136, 1024]) }, { transposeA: false, transposeB: true })],
    ['MatMul dW = xt * dy ((64x3136)t * 64x1024)', 2 * B * 3136 * 1024, k('BatchMatMul', { a: tf.reshape(h, [1, B, 3136]), b: tf.reshape(dh, [1, B, 1024]) }, { transposeA: true, transposeB: false })],
    ['MaxPool 64x28x28x32 2x2', 0, k('MaxPool', { x: p1 }, pool)],
    ['MaxPoolGrad 64x28x28x32 2x2', 0, k('MaxPoolGrad', { dy: dp1, input: p1, output: dp1 }, pool)],
    ['Sum (bias gradient) 64x28x28x32 -> 32', 0, k('Sum', { x: dy1 }, { axis: [0, 1, 2], keepDims: false })],
  ];
  say('\nper kernel (batch ' + B + '), median ms per call:');
  say(`${'kernel'.padEnd(48)} ${ENGINES.map((e) => e.padStart(9)).join(' ')}  speedup  GFLOP/s (${ENGINES[ENGINES.length - 1]})`);
  for (const [name, flops, fn] of cases) {
    let t: Record<Engine, number>;
    try {
      t = compare(fn, 3);
    } catch (e) {
      say(`${name.padEnd(48)} failed: ${(e as Error).message.split('\n')[0]}`);
      continue;
    }
    const best = t[ENGINES[ENGINES.length - 1]!]!;
    const gf = flops ? (flops / best / 1e9).toFixed(1) : '-';
    say(
      `${name.padEnd(48)} ${ENGINES.map((e) => (t[e]! * 1e3).toFixed(2).padStart(9)).join(' ')} ${(t.wasm! / best).toFixed(1).padStart(7)}x ${gf.padStart(8)}`,
      { kernel: name, batch: B, ms: Object.fromEntries(ENGINES.map((e) => [e, t[e]! * 1e3])), gflops: flops ? flops / best / 1e9 : null },
    );
  }
  tf.dispose([x1, w1, b1, x2, w2, b2, dy2, dy1, p1, dp1, h, w3, b3, dh]);
}

// ---- whole model ----------------------------------------------------------------------------------

/** Forward FLOPs of one example through the conv and dense layers. */
function forwardFlops(model: tfl.LayersModel): number {
  let f = 0;
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const out = layer.outputShape as number[];
    const w = layer.getWeights()[0];
    if (!w) continue;
    if (cls === 'Conv2D') f += 2 * out[1]! * out[2]! * w.size;
    else if (cls === 'Dense') f += 2 * w.size;
  }
  return f;
}

// ---- PyTorch peer (benchmark only; never a dependency) -----------------------------------------

const TORCH_SCRIPT = `
import sys, time, json, torch, torch.nn as nn, torch.nn.functional as F
threads, batch, steps, rounds = (int(a) for a in sys.argv[1:5])
torch.set_num_threads(threads)
torch.manual_seed(0)
m = nn.Sequential(nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Flatten(), nn.Linear(3136, 1024), nn.ReLU(), nn.Linear(1024, 10))
opt = torch.optim.Adam(m.parameters(), 1e-3)
x = torch.rand(batch, 1, 28, 28); y = torch.randint(0, 10, (batch,))
def train():
    opt.zero_grad(); loss = F.cross_entropy(m(x), y); loss.backward(); opt.step(); loss.item()
def igrad():
    xi = x.clone().requires_grad_(True); loss = F.cross_entropy(m(xi), y)
    g, = torch.autograd.grad(loss, xi); g.sum().item()
out = {}
for name, fn in (("train", train), ("igrad", igrad)):
    fn(); fn()
    ts = []
    for r in range(rounds):
        t = time.perf_counter()
        for i in range(steps): fn()
        ts.append((time.perf_counter() - t) / steps)
    ts.sort(); out[name] = ts[len(ts) // 2]
print(json.dumps({"torch": torch.__version__, "blas": torch.__config__.show().count("OpenBLAS") > 0, **out}))
`;

/** Seconds per step of madry-cnn in PyTorch (CPU, same threads), or why not. */
function torchPeer(t: number): { train: number; igrad: number; torch: string } | string {
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return 'PyTorch not installed (apt-get install python3-torch libopenblas0-pthread; it runs on /usr/bin/python3)';
  const r = spawnSync('/usr/bin/python3', ['-c', TORCH_SCRIPT, String(t), String(batch), String(steps), String(rounds)], { encoding: 'utf8' });
  if (r.status !== 0) return `PyTorch run failed: ${(r.stderr ?? '').trim().split('\n').pop()}`;
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

say('');
for (const name of values.models!.split(',')) {
  const torchBefore = threadCounts.map((tc) => [tc, name === 'madry-cnn' && !values['no-torch'] ? torchPeer(tc) : 'skipped'] as const);
  const model = buildZooModel(name, { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
  const x = tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 1);
  const y = randomLabels(batch, 10);
  // What the Trainer runs on each engine: tfjs's Adam update on wasm, the native one on native.
  const opt: tf.Optimizer = new NativeAdamOptimizer(1e-3);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const logits = (xi: tf.Tensor, training: boolean) => model.apply(xi, { training }) as tf.Tensor;
  const train = () =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, logits(x, true)) as tf.Scalar, vars);
      opt.applyGradients(grads);
      value.dataSync();
    });
  const igradFn = tf.grad((xi: tf.Tensor) => tf.losses.softmaxCrossEntropy(y, logits(xi, false)) as tf.Scalar);
  const igrad = () => tf.tidy(() => void igradFn(x).dataSync());
  const fwd = forwardFlops(model);
  const peers: [string, Record<Engine, number>][] = [];
  const firstConv = model.layers.find((l) => l.getClassName() === 'Conv2D');
  const firstDgrad = firstConv ? 2 * (firstConv.outputShape as number[])[1]! * (firstConv.outputShape as number[])[2]! * firstConv.getWeights()[0]!.size : 0;
  for (const [mode, fn, flopsPerEx] of [
    ['train', train, 3 * fwd - firstDgrad],
    ['igrad', igrad, 2 * fwd],
  ] as const) {
    if (mode === 'train' && !values.json) say(`${name}: ${((3 * fwd - firstDgrad) / 1e6).toFixed(1)} MFLOP per example to train, ${((2 * fwd) / 1e6).toFixed(1)} for igrad`);
    fn(); // creates the optimizer's slots, so what follows must not change the tensor count
    const before = tf.memory().numTensors;
    nativeKernelStats(true);
    const t = compare(fn, steps);
    const stats = nativeKernelStats(true);
    // Sums over other axes (the loss) are not bias gradients: their fallback is by design.
    const fellBack = Object.entries(stats)
      .filter(([k, s]) => s.fallback > 0 && !(k === tf.Sum && /^not (a sum over all axes but the last|float32 rank>=2)$/.test(s.lastFallback ?? '')))
      // Element-wise kernels leave other dtypes and broadcasts to wasm by design.
      .filter(([k]) => ![tf.Add, tf.Cast, tf.Identity, tf.Relu].includes(k as 'Add'))
      .map(([k, s]) => `${k}: ${s.lastFallback}`);
    if (tf.memory().numTensors !== before) console.log(`warning: ${tf.memory().numTensors - before} tensors leaked`);
    for (const e of ENGINES) {
      const exps = batch / t[e]!;
      const gflops = (exps * flopsPerEx) / 1e9;
      say(`${name.padEnd(12)} ${mode.padEnd(6)} ${e.padEnd(7)} ${String(Math.round(exps)).padStart(6)} ex/s  ${gflops.toFixed(1).padStart(6)} GFLOP/s  (${(t[e]! * 1e3).toFixed(1)} ms/step, median of ${rounds} rounds × ${steps})`, {
        model: name,
        mode,
        batch,
        backend: e.split('@')[0],
        threads: e.startsWith('native@') ? Number(e.slice(7)) : 1,
        ex_per_s: Math.round(exps),
        gflops: Number(gflops.toFixed(1)),
      });
    }
    peers.push([mode, t]);
    say(`${''.padEnd(12)} ${mode.padEnd(6)} ${ENGINES.slice(1).map((e) => `${e}/wasm ${(t.wasm! / t[e]!).toFixed(2)}x`).join('  ')}${fellBack.length ? `  (fallbacks: ${fellBack.join('; ')})` : ''}`);
  }
  for (const [tc, before] of torchBefore) {
    if (typeof before === 'string') {
      if (before !== 'skipped') say(`${name.padEnd(12)} pytorch: ${before}`);
      break;
    }
    // PyTorch ran before the JS rounds and runs again after them; its figure is the mean of both.
    const after = torchPeer(tc);
    for (const [mode, t] of peers) {
      const key = mode as 'train' | 'igrad';
      const secs = typeof after === 'string' ? before[key] : (before[key] + after[key]) / 2;
      const exps = batch / secs;
      say(`${name.padEnd(12)} ${mode.padEnd(6)} ${`torch@${tc}`.padEnd(9)} ${String(Math.round(exps)).padStart(6)} ex/s  (torch ${before.torch}; ${(secs * 1e3).toFixed(1)} ms/step)`, {
        model: name,
        mode,
        batch,
        backend: 'pytorch',
        threads: tc,
        ex_per_s: Math.round(exps),
        gflops: null,
      });
      say(`${''.padEnd(12)} ${mode.padEnd(6)} ${ENGINES.slice(1).map((e) => `${e}/torch@${tc} ${(secs / t[e]!).toFixed(2)}x`).join('  ')}`);
    }
  }
  tf.dispose([x, y]);
  opt.dispose();
  model.dispose();
}
