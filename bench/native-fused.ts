/**
 * What the fused kernels bring to an MLP's training step and input gradient: four configurations,
 * alternating within each round in one process so that all see the same machine load —
 * `layers` (tfjs-layers' layer-by-layer kernels and tfjs's cross-entropy composition), `stack`
 * (the dense stack, the composed cross-entropy), `fused` (the dense stack and the fused softmax
 * cross-entropy kernel, on the tape) and `probe` (as `fused`, and the attacks' cross-entropy probe
 * as one native call; the input gradient only: training does not use it). Per mode the median
 * times and the median of the per-round speedups over `layers` (each round's ratios printed after
 * it).
 *
 *   node build/bench/native-fused.js [--models mlp,tabular-mlp] [--rounds 7] [--runs 40] [--threads 2] [--clock wall|cpu]
 *
 * mlp: the zoo's mlp on 28×28×1, 10 classes, batch 64; tabular-mlp: on 120 features, 2 classes,
 * batch 256 (as bench/backends.ts has them); any other zoo image model (e.g. mnist-small) on
 * 28×28×1, 10 classes, batch 64: the stack does not apply there, so `stack` runs as `layers` and
 * `stack+ce` shows what the cross-entropy kernel alone brings.
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { selectBackend } from '../src/engine/backend.js';
import { DENSE_STACK, DENSE_STACK_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY, setNativeKernelEnabled } from '../src/engine/native/index.js';
import { buildZooModel, type ZooName } from '../src/model/zoo.js';
import { makeOptimizer } from '../src/training/optimizers.js';
import { benchSteps, randomLabels } from './step.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'mlp,tabular-mlp' },
    rounds: { type: 'string', default: '7' },
    runs: { type: 'string', default: '40' },
    threads: { type: 'string', default: String(availableParallelism()) },
    clock: { type: 'string', default: 'wall' },
  },
});
if (values.clock !== 'wall' && values.clock !== 'cpu') throw new Error(`--clock must be wall or cpu (got ${values.clock})`);
/** Milliseconds now: wall-clock, or (--clock cpu) this process's CPU time, all threads (time waiting for a core on a loaded machine not counted). */
const now = values.clock === 'cpu' ? () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e3; } : () => performance.now();
const info = await selectBackend('native', { threads: Number(values.threads) });
console.log(`engine: ${info.name} (${info.reason})`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
/** Median milliseconds of `runs` timed calls after one warm-up call. */
function time(f: () => void): number {
  f();
  const ts: number[] = [];
  for (let i = 0; i < Number(values.runs); i++) {
    const t = now();
    f();
    ts.push(now() - t);
  }
  return median(ts);
}

for (const name of values.models!.split(',')) {
  const tabular = name === 'tabular-mlp';
  const inputShape = tabular ? [120] : [28, 28, 1];
  const batch = tabular ? 256 : 64;
  const model = buildZooModel(tabular ? 'mlp' : (name as ZooName), { inputShape, numClasses: tabular ? 2 : 10, seed: 0 });
  const x = tf.randomUniform([batch, ...inputShape], 0, 1, 'float32', 1);
  const y = randomLabels(batch, tabular ? 2 : 10);
  const opt = makeOptimizer('adam', 0);
  const s = benchSteps(model, x, y, opt);
  const configs = { layers: [false, false, false], stack: [true, false, false], fused: [true, true, false], probe: [true, true, true] } as const;
  type Config = keyof typeof configs;
  const times: Record<'train' | 'igrad', Record<Config, number[]>> = { train: { layers: [], stack: [], fused: [], probe: [] }, igrad: { layers: [], stack: [], fused: [], probe: [] } };
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const mode of ['train', 'igrad'] as const) {
      for (const [c, [stack, ce, probe]] of Object.entries(configs) as [Config, readonly [boolean, boolean, boolean]][]) {
        if (mode === 'train' && probe) continue;
        setNativeKernelEnabled(DENSE_STACK, stack);
        setNativeKernelEnabled(SOFTMAX_CROSS_ENTROPY, ce);
        setNativeKernelEnabled(DENSE_STACK_CROSS_ENTROPY, probe);
        times[mode][c].push(time(s[mode]));
      }
    }
  }
  for (const k of [DENSE_STACK, SOFTMAX_CROSS_ENTROPY, DENSE_STACK_CROSS_ENTROPY]) setNativeKernelEnabled(k, true);
  for (const mode of ['train', 'igrad'] as const) {
    const t = times[mode];
    const speedup = (c: Config) => t.layers.map((l, i) => l / t[c][i]!);
    const med = (c: Config) => `${median(t[c]).toFixed(3)} ms`;
    const ratio = (c: Config) => `${median(speedup(c)).toFixed(2)}× (${speedup(c).map((v) => v.toFixed(2)).join(' ')})`;
    const probe = mode === 'igrad';
    console.log(`${name.padEnd(12)} ${mode.padEnd(6)} batch ${batch}: layers ${med('layers')}, stack ${med('stack')}, stack+ce ${med('fused')}${probe ? `, one-call probe ${med('probe')}` : ''}`);
    console.log(`${''.padEnd(12)} ${''.padEnd(6)} over layers: stack ${ratio('stack')}; stack+ce ${ratio('fused')}${probe ? `; one-call probe ${ratio('probe')}` : ''}`);
  }
  s.dispose();
  opt.dispose();
  tf.dispose([x, y]);
  model.dispose();
}
