/**
 * Per-attack efficiency of an evaluation preset: how much of each attack's wall time the model
 * itself would need at the engine's raw batched throughput.
 *
 * The classifier is wrapped so that every `logits` call is counted by its batch size and by
 * whether a gradient tape records it (a gradient evaluation: forward + backward). After the
 * preset has run, the engine's raw throughput is measured, in the same process, for every batch
 * size the attacks used (forward alone, and forward + input gradient of the summed CE), and
 *
 *   engine time = Σ over calls rows / raw(batch size, kind),   efficiency = engine time / wall time.
 *
 * Members run as the evaluation protocol runs them (each on the points still robust, chunks of
 * 500, seeds derived per member), so the figures are those of `advtrain eval --preset NAME`.
 *
 *   node build/bench/attack-efficiency.js --model runs/fgsm-rs [--dataset mnist] [--n 500]
 *     [--threat linf:0.3] [--preset standard] [--batch 256] [--json FILE]
 */
import * as tf from '@tensorflow/tfjs-core';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/engine/backend.js';
import { loadDataset } from '../src/data/index.js';
import { subset, take } from '../src/data/batching.js';
import { loadModel } from '../src/model/io.js';
import type { Classifier } from '../src/model/classifier.js';
import { parseThreat } from '../src/threat/threat-model.js';
import { presetMembers, type PresetName } from '../src/eval/presets.js';
import { runAttack } from '../src/eval/attack-run.js';
import { evaluateClean } from '../src/model/accuracy.js';
import { deriveSeed } from '../src/data/rng.js';
import { probe } from '../src/attacks/gradient.js';
import { summarize } from '../src/eval/stats.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    dataset: { type: 'string', default: 'mnist' },
    n: { type: 'string', default: '500' },
    threat: { type: 'string', default: 'linf:0.3' },
    preset: { type: 'string', default: 'standard' },
    batch: { type: 'string', default: '256' },
    seed: { type: 'string', default: '0' },
    json: { type: 'string' },
  },
});
if (!values.model) throw new Error('--model DIR is required (a saved model, e.g. runs/fgsm-rs)');

type Kind = 'forward' | 'gradient';
/** Calls per (kind, batch size): how many, and rows in all. */
class Counter {
  calls = new Map<string, { kind: Kind; batch: number; calls: number }>();
  add(kind: Kind, batch: number): void {
    const key = `${kind}:${batch}`;
    const c = this.calls.get(key) ?? { kind, batch, calls: 0 };
    c.calls++;
    this.calls.set(key, c);
  }
  rows(kind: Kind): number {
    let r = 0;
    for (const c of this.calls.values()) if (c.kind === kind) r += c.calls * c.batch;
    return r;
  }
}

function counting(clf: Classifier, counter: { current?: Counter }): Classifier {
  return {
    inputShape: clf.inputShape,
    numClasses: clf.numClasses,
    domain: clf.domain,
    queryOnly: clf.queryOnly,
    logits(x: tf.Tensor): tf.Tensor2D {
      counter.current?.add(tf.engine().isTapeOn() ? 'gradient' : 'forward', x.shape[0]!);
      return clf.logits(x);
    },
  };
}

/** Rows per second of one kind at one batch size: median of 5 timed blocks of ≥ 0.3 s. */
function rawThroughput(clf: Classifier, kind: Kind, batch: number): number {
  const x = tf.randomUniform([batch, ...clf.inputShape], 0, 1, 'float32', 7);
  const y = tf.zeros([batch], 'int32') as tf.Tensor1D;
  const once = () => {
    if (kind === 'forward') tf.tidy(() => void clf.logits(x).dataSync());
    else {
      const p = probe(clf, x, y, 'ce');
      p.grad.dataSync();
      tf.dispose([p.grad, p.logits, p.objective, p.success]);
    }
  };
  for (let i = 0; i < 3; i++) once();
  const rates: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    let k = 0;
    while (performance.now() - t0 < 300) {
      once();
      k++;
    }
    rates.push((k * batch) / ((performance.now() - t0) / 1000));
  }
  tf.dispose([x, y]);
  return summarize(rates).median!;
}

const info = await selectBackend('auto');
const data = await loadDataset(values.dataset!);
const { classifier } = await loadModel(values.model);
const threat = parseThreat(values.threat!);
const ds = subset(data.test, Number(values.n));
const batchSize = Number(values.batch);
const seed = Number(values.seed);
const counter: { current?: Counter } = {};
const clf = counting(classifier, counter);
const members = presetMembers(values.preset as PresetName, threat);

console.log(`engine: ${info.name}; ${values.model} on the first ${ds.n} ${values.dataset} test examples at ${threat}, preset ${values.preset}, batch ${batchSize}`);
const clean = evaluateClean(classifier, ds, { batchSize });
let todo = Array.from(clean.correct).flatMap((c, i) => (c ? [i] : []));
const runs: { name: string; points: number; broken: number; wall: number; counter: Counter }[] = [];
const t0 = performance.now();
for (let m = 0; m < members.length; m++) {
  const attack = members[m]!.attack;
  const c = new Counter();
  counter.current = c;
  const start = performance.now();
  const still: number[] = [];
  for (let at = 0; at < todo.length; at += 500) {
    const idx = todo.slice(at, at + 500);
    const r = await runAttack(clf, take(ds, idx), attack, { threat, batchSize, seed: deriveSeed(seed, 'member', m), exampleIndices: idx });
    idx.forEach((i, j) => r.robust[j] && still.push(i));
  }
  counter.current = undefined;
  runs.push({ name: attack.name, points: todo.length, broken: todo.length - still.length, wall: (performance.now() - start) / 1000, counter: c });
  console.log(`${attack.name}: ${todo.length} points, ${((performance.now() - start) / 1000).toFixed(1)} s`);
  todo = still;
}
const total = (performance.now() - t0) / 1000;

// Raw rates at anchor batch sizes; a call of another size costs the time interpolated linearly
// between the neighbouring anchors' per-call times (a call's time is close to affine in its size).
const ANCHORS = [1, 2, 4, 8, 16, 32, 64, 128, 192, 256, 384, 512, 768, 1024];
const raw = new Map<string, number>();
const rate = (kind: Kind, batch: number): number => {
  const key = `${kind}:${batch}`;
  if (!raw.has(key)) raw.set(key, rawThroughput(classifier, kind, batch));
  return raw.get(key)!;
};
const callTime = (kind: Kind, batch: number): number => {
  const hi = ANCHORS.find((a) => a >= batch) ?? ANCHORS[ANCHORS.length - 1]!;
  const lo = [...ANCHORS].reverse().find((a) => a <= batch) ?? 1;
  const tHi = hi / rate(kind, hi);
  if (hi === lo) return (tHi * batch) / hi;
  const tLo = lo / rate(kind, lo);
  return tLo + ((tHi - tLo) * (batch - lo)) / (hi - lo);
};
console.log(`\nrobust accuracy ${(still(runs, ds.n, clean.accuracy) * 100).toFixed(2)}% (clean ${(clean.accuracy * 100).toFixed(2)}%), ${total.toFixed(1)} s`);
console.log('attack     points broken   wall s  forward rows  gradient rows  evals/s   raw evals/s*  engine s  efficiency');
const rows = runs.map((r) => {
  let engine = 0;
  for (const c of r.counter.calls.values()) engine += c.calls * callTime(c.kind, c.batch);
  const fw = r.counter.rows('forward');
  const gr = r.counter.rows('gradient');
  const evals = (fw + gr) / r.wall;
  // The raw rate of the same mix of calls: what the engine alone would sustain.
  const rawEvals = engine > 0 ? (fw + gr) / engine : 0;
  const row = { attack: r.name, points: r.points, broken: r.broken, wall_s: r.wall, forward_rows: fw, gradient_rows: gr, evals_per_s: evals, raw_evals_per_s: rawEvals, engine_s: engine, efficiency: engine / r.wall };
  console.log(
    `${r.name.padEnd(10)} ${String(r.points).padStart(6)} ${String(r.broken).padStart(6)} ${r.wall.toFixed(1).padStart(8)} ${String(fw).padStart(13)} ${String(gr).padStart(14)} ${evals.toFixed(0).padStart(8)} ${rawEvals.toFixed(0).padStart(13)} ${engine.toFixed(1).padStart(9)} ${(100 * row.efficiency).toFixed(0).padStart(10)}%`,
  );
  return row;
});
console.log('* the engine\'s raw rows/s for the same mix of calls (kind and batch size), measured in this run');
if (values.json) writeFileSync(values.json, JSON.stringify({ engine: info.name, model: values.model, n: ds.n, threat: String(threat), preset: values.preset, total_s: total, rows }, null, 2));

function still(r: typeof runs, n: number, cleanAcc: number): number {
  const broken = r.reduce((a, x) => a + x.broken, 0);
  return (Math.round(cleanAcc * n) - broken) / n;
}
