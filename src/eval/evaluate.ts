import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../model/classifier.js';
import type { Dataset } from '../data/dataset.js';
import { exampleSize } from '../data/dataset.js';
import { subset } from '../data/batching.js';
import type { AnyThreat } from '../threat/threat.js';
import { UserError } from '../errors.js';
import { encodePng, amplifiedPerturbation } from '../report/png.js';
import type { AttackRow, Check, EvalResultV2, GalleryItem, Preset, TrainingEpoch } from './schema.js';
import { EVAL_SCHEMA } from './schema.js';
import { evaluateEnsemble } from './protocol.js';
import { presetMembers, type Member } from './presets.js';
import { robustnessMargin } from './margin.js';
import { reliabilityChecks } from './checks.js';
import { epsCurve } from './eps-curve.js';
import { minimalNorms } from './minimal-norms.js';

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  threat: AnyThreat;
  preset: Preset;
  /** The ensemble for preset 'custom'. */
  members?: Member[];
  seed?: number;
  batchSize?: number;
  statePath?: string;
  /** Budgets of an accuracy-vs-ε curve (first `curveN` examples). */
  epsCurve?: number[];
  curveN?: number;
  /** Norms to measure minimal perturbations in (first `minimalN` examples). */
  minimalNorms?: ('l2' | 'linf')[];
  minimalN?: number;
  /** Run the reliability checks (default true) on the first `checkN` examples (default 200). */
  checks?: boolean;
  checkN?: number;
  /** Gallery size (default 10). */
  gallery?: number;
  /** Where the model lives, to read its training log (metrics.jsonl). */
  modelDir?: string;
  /** Describes the model and data for the result file. */
  describe: { model: EvalResultV2['model']; dataset: string; engine: EvalResultV2['engine']; versions: EvalResultV2['versions'] };
  onProgress?: (stage: string, done: number, total: number) => void;
  afterChunk?: (member: number, chunk: number) => void;
}

/** Reads a run directory's per-epoch log into the report's training rows, if there is one. */
export function readTrainingLog(dir: string | undefined): TrainingEpoch[] | undefined {
  if (!dir) return undefined;
  const p = join(dir, 'metrics.jsonl');
  if (!existsSync(p)) return undefined;
  const rows: TrainingEpoch[] = [];
  for (const line of readFileSync(p, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const m = JSON.parse(line) as Record<string, number | null>;
    const row: TrainingEpoch = { epoch: m.epoch!, loss: (m.loss ?? m.train_loss)! };
    for (const k of ['clean_accuracy', 'adv_loss', 'adv_accuracy', 'val_accuracy', 'robust_val_accuracy', 'eps'] as const) {
      if (typeof m[k] === 'number') row[k] = m[k] as number;
    }
    rows.push(row);
  }
  return rows.length ? rows : undefined;
}

function b64(buf: Buffer): string {
  return buf.toString('base64');
}

function gallery(clf: Classifier, ds: Dataset, adv: Float32Array, brokenBy: Int8Array, k: number): GalleryItem[] {
  if (ds.shape.length !== 3 || k <= 0) return [];
  const size = exampleSize(ds);
  const picks: number[] = [];
  for (let i = 0; i < ds.n && picks.length < k; i++) if (brokenBy[i]! >= 0) picks.push(i);
  for (let i = 0; i < ds.n && picks.length < k; i++) if (brokenBy[i] === -1) picks.push(i);
  if (picks.length === 0) return [];
  const take = (src: Float32Array) => {
    const out = new Float32Array(picks.length * size);
    picks.forEach((i, j) => out.set(src.subarray(i * size, (i + 1) * size), j * size));
    return out;
  };
  const xc = take(ds.x);
  const xa = take(adv);
  const [pc, pa] = tf.tidy(() => [xc, xa].map((b) => tf.softmax(clf.logits(tf.tensor(b, [picks.length, ...ds.shape])))));
  const c = ds.numClasses;
  const probsC = pc!.dataSync();
  const probsA = pa!.dataSync();
  tf.dispose([pc!, pa!]);
  const view = (probs: ArrayLike<number>, j: number, img: Float32Array) => {
    let best = 0;
    for (let q = 1; q < c; q++) if (probs[j * c + q]! > probs[j * c + best]!) best = q;
    return { prediction: best, confidence: probs[j * c + best]!, png: b64(encodePng(img, ds.shape, { scale: 3 })) };
  };
  return picks.map((i, j) => {
    const x = xc.subarray(j * size, (j + 1) * size);
    const a = xa.subarray(j * size, (j + 1) * size);
    return {
      index: i,
      label: ds.y[i]!,
      clean: view(probsC, j, x),
      adversarial: view(probsA, j, a),
      perturbation: { png: b64(encodePng(amplifiedPerturbation(x, a), ds.shape, { scale: 3 })) },
    };
  });
}

/**
 * A full robustness evaluation: the worst case over the preset's attack ensemble, the
 * robustness margin, optional accuracy-vs-ε curve and minimal-perturbation norms, the training
 * log, the reliability checks and a gallery — everything the HTML report shows.
 *
 * @example
 * ```ts
 * const result = await evaluate(clf, subset(test, 1000), { threat: parseThreat('linf:0.3'), preset: 'standard', describe });
 * writeReport('report.html', result);
 * ```
 */
export async function evaluate(clf: Classifier, ds: Dataset, o: EvaluateOptions): Promise<EvalResultV2> {
  if (o.threat.kind !== 'norm') {
    if (o.epsCurve?.length) throw new UserError(`an accuracy-vs-ε curve needs a norm threat such as linf:0.3 (got ${o.threat})`);
    if (o.checks ?? true) throw new UserError(`the reliability checks need a norm threat such as linf:0.3 (got ${o.threat}): turn them off (--no-checks, or checks: false)`);
  }
  const t0 = performance.now();
  const members = o.preset === 'custom' ? (o.members ?? []) : presetMembers(o.preset, o.threat);
  const seed = o.seed ?? 0;
  const result = await evaluateEnsemble(clf, ds, {
    threat: o.threat,
    members,
    seed,
    batchSize: o.batchSize,
    statePath: o.statePath,
    onProgress: (m, done, total) => o.onProgress?.(members[m]!.attack.name, done, total),
    afterChunk: o.afterChunk,
  });
  const attacks: AttackRow[] = result.members.map((m) => ({
    name: m.name,
    params: Object.fromEntries(Object.entries(m.params).filter(([, v]) => ['number', 'string', 'boolean'].includes(typeof v))) as AttackRow['params'],
    robust_accuracy: m.robust_accuracy,
    attack_accuracy: m.attacked ? 1 - m.broken / m.attacked : undefined,
    queries: { median: m.queries.median ?? 0, mean: m.queries.mean ?? 0, total: m.queries.total },
    time_s: m.time_s,
    attacked: m.attacked,
  }));
  o.onProgress?.('margin', 0, 1);
  const margin = robustnessMargin(clf, ds, result.adv, result.cleanCorrect);
  let curve: { eps: number; accuracy: number }[] | undefined;
  if (o.epsCurve?.length && o.threat.kind === 'norm') {
    o.onProgress?.('eps-curve', 0, o.epsCurve.length);
    curve = await epsCurve(clf, subset(ds, o.curveN ?? 500), o.threat.norm, o.epsCurve, seed);
  }
  const norms = o.minimalNorms?.length ? await minimalNorms(clf, subset(ds, o.minimalN ?? 200), o.minimalNorms, seed) : undefined;
  let checks: Check[] = [];
  if (o.checks ?? true) {
    o.onProgress?.('checks', 0, 1);
    checks = await reliabilityChecks(clf, ds, result, { threat: o.threat, access: members.map((m) => m.access), m: o.checkN, seed });
  }
  const training = readTrainingLog(o.modelDir);
  return {
    schema: EVAL_SCHEMA,
    created: new Date().toISOString(),
    versions: o.describe.versions,
    engine: o.describe.engine,
    seed,
    model: o.describe.model,
    data: { dataset: o.describe.dataset, split: 'test', n: ds.n, classes: ds.classNames },
    threat: o.threat.toString(),
    preset: o.preset,
    clean_accuracy: result.clean_accuracy,
    robust_accuracy: result.robust_accuracy,
    attacks,
    margin,
    ...(training ? { training } : {}),
    ...(curve ? { eps_curve: curve } : {}),
    ...(norms && Object.keys(norms).length ? { minimal_norms: norms } : {}),
    checks,
    gallery: gallery(clf, ds, result.adv, result.brokenBy, o.gallery ?? 10),
    time_s: (performance.now() - t0) / 1000,
  };
}
