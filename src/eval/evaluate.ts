import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../model/classifier.js';
import type { Dataset } from '../data/dataset.js';
import { exampleSize } from '../data/dataset.js';
import { subset } from '../data/batching.js';
import type { AnyThreat } from '../threat/threat.js';
import { drawable, exampleImages } from '../report/png.js';
import type { AttackRow, Check, EvalCommand, EvalResultV2, GalleryItem, Preset, TrainingEpoch } from './schema.js';
import { EVAL_SCHEMA } from './schema.js';
import { evaluateEnsemble, type ProtocolOptions, type ProtocolResult } from './protocol.js';
import { presetMembers, type Member } from './presets.js';
import { robustnessMargin } from './margin.js';
import { reliabilityChecks } from './checks.js';
import { epsCurve } from './eps-curve.js';
import { minimalNorms } from './minimal-norms.js';
import { libraryCall } from './command.js';
import { perClass } from './per-class.js';
import { UserError } from '../errors.js';
import { infeasibility, isBox } from '../data/domain.js';
import { summarize } from './stats.js';
import { resultHeader } from './result-header.js';
import { queryOnlyAttacks } from '../attacks/registry.js';

/**
 * Options of {@link evaluate}.
 *
 * @example
 * ```ts
 * const opts: EvaluateOptions = { threat: parseThreat('linf:0.3'), preset: 'quick', seed: 0 };
 * const result = await evaluate(clf, subset(test, 200), opts);
 * ```
 */
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
  /**
   * Describes the model and data for the result file. Each part is optional: the model path
   * defaults to 'memory', the data set to its name, the engine and versions to those running now.
   */
  describe?: { model?: EvalResultV2['model']; dataset?: string; engine?: EvalResultV2['engine']; versions?: EvalResultV2['versions'] };
  /**
   * What reproduces this result, recorded in it: the CLI passes its command line; by default a
   * description of this call ({@link libraryCall}).
   */
  command?: EvalCommand;
  onProgress?: (stage: string, done: number, total: number) => void;
  afterChunk?: (member: number, chunk: number) => void;
  /** Receives the ensemble's per-example worst case (adversarial inputs, who broke what), e.g. to save the adversarial records. */
  onWorstCase?: (r: ProtocolResult) => void;
  /** Runs the ensemble in place of the local `evaluateEnsemble`, with the same result (a sharded run: `shardedEnsemble`). */
  ensemble?: (clf: Classifier, ds: Dataset, o: ProtocolOptions) => Promise<ProtocolResult>;
}

export { runningEngine } from './result-header.js';

/** A query-only model (ONNX) can only be evaluated by black-box members, without the gradient-based checks. */
function checkQueryOnly(members: Member[], o: EvaluateOptions): void {
  const white = members.filter((m) => m.access === 'white-box').map((m) => m.attack.name);
  const fix = `use preset 'custom' with black-box members (${queryOnlyAttacks().join(', ')}) and checks: false, or evaluate a TF.js model`;
  if (white.length) throw new UserError(`the classifier is query-only (ONNX: no gradients), but preset '${o.preset}' runs ${white.join(', ')}, which need gradients: ${fix}`);
  if (o.checks ?? true) throw new UserError(`the classifier is query-only (ONNX: no gradients), but the reliability checks need gradients: pass checks: false`);
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

/**
 * Which examples the gallery shows: about half broken by an attack and half that survived every
 * attack (first in data-set order), the other kind filling in when one is short; broken first.
 */
export function galleryPicks(brokenBy: Int8Array, k: number): number[] {
  const broken: number[] = [];
  const survived: number[] = [];
  for (let i = 0; i < brokenBy.length; i++) (brokenBy[i]! >= 0 ? broken : brokenBy[i] === -1 ? survived : []).push(i);
  const nSurvived = Math.min(survived.length, Math.max(Math.floor(k / 2), k - broken.length));
  const nBroken = Math.min(broken.length, k - nSurvived);
  return [...broken.slice(0, nBroken), ...survived.slice(0, nSurvived)];
}

function gallery(clf: Classifier, ds: Dataset, adv: Float32Array, brokenBy: Int8Array, k: number): GalleryItem[] {
  if (!drawable(ds.shape) || k <= 0) return [];
  const size = exampleSize(ds);
  const picks = galleryPicks(brokenBy, k);
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
  const view = (probs: ArrayLike<number>, j: number, png: Buffer) => {
    let best = 0;
    for (let q = 1; q < c; q++) if (probs[j * c + q]! > probs[j * c + best]!) best = q;
    return { prediction: best, confidence: probs[j * c + best]!, png: b64(png) };
  };
  return picks.map((i, j) => {
    const png = exampleImages(xc.subarray(j * size, (j + 1) * size), xa.subarray(j * size, (j + 1) * size), ds.shape, 3)!;
    return {
      index: i,
      label: ds.y[i]!,
      outcome: brokenBy[i]! >= 0 ? 'broken' : 'survived',
      clean: view(probsC, j, png.clean),
      adversarial: view(probsA, j, png.adversarial),
      perturbation: { png: b64(png.perturbation) },
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
  if (clf.queryOnly) checkQueryOnly(members, o);
  const seed = o.seed ?? 0;
  const result = await (o.ensemble ?? evaluateEnsemble)(clf, ds, {
    threat: o.threat,
    members,
    seed,
    batchSize: o.batchSize,
    statePath: o.statePath,
    onProgress: (m, done, total) => o.onProgress?.(members[m]!.attack.name, done, total),
    afterChunk: o.afterChunk,
  });
  o.onWorstCase?.(result);
  const attacks: AttackRow[] = result.members.map((m) => ({
    name: m.name,
    params: Object.fromEntries(Object.entries(m.params).filter(([, v]) => ['number', 'string', 'boolean'].includes(typeof v))) as AttackRow['params'],
    robust_accuracy: m.robust_accuracy,
    attack_accuracy: m.attacked ? 1 - m.broken / m.attacked : undefined,
    queries: { median: m.queries.median ?? 0, mean: m.queries.mean ?? 0, total: m.queries.total },
    time_s: m.time_s,
    attacked: m.attacked,
    ...(isBox(ds.domain) ? {} : { validity_rate: m.validity_rate }),
  }));
  // Every stage reports 0/N when it starts and k/N as its parts finish, ending at N/N.
  const stage = (name: string) => (done: number, total: number) => o.onProgress?.(name, done, total);
  stage('margin')(0, 1);
  const margin = robustnessMargin(clf, ds, result.adv, result.cleanCorrect);
  stage('margin')(1, 1);
  let curve: { eps: number; accuracy: number }[] | undefined;
  if (o.epsCurve?.length && o.threat.kind === 'norm') {
    stage('eps-curve')(0, o.epsCurve.length);
    curve = await epsCurve(clf, subset(ds, o.curveN ?? 500), o.threat.norm, o.epsCurve, seed, stage('eps-curve'));
  }
  const norms = o.minimalNorms?.length ? await minimalNorms(clf, subset(ds, o.minimalN ?? 200), o.minimalNorms, seed, stage('minimal')) : undefined;
  let checks: Check[] = [];
  if (o.checks ?? true) {
    checks = await reliabilityChecks(clf, ds, result, { threat: o.threat, access: members.map((m) => m.access), m: o.checkN, seed, onProgress: stage('checks') });
  }
  const training = readTrainingLog(o.modelDir);
  return {
    ...resultHeader(EVAL_SCHEMA, seed, o.describe ?? {}),
    model: o.describe?.model ?? { path: 'memory' },
    data: { dataset: o.describe?.dataset ?? ds.name, split: 'test', n: ds.n, classes: ds.classNames },
    threat: o.threat.toString(),
    preset: o.preset,
    clean_accuracy: result.clean_accuracy,
    robust_accuracy: result.robust_accuracy,
    attacks,
    per_class: perClass(ds, result.cleanCorrect, result.robust),
    ...(isBox(ds.domain) ? {} : { tabular: tabularFigures(ds, result.adv, result.brokenBy) }),
    margin,
    ...(training ? { training } : {}),
    ...(curve ? { eps_curve: curve } : {}),
    ...(norms && Object.keys(norms).length ? { minimal_norms: norms } : {}),
    checks,
    gallery: gallery(clf, ds, result.adv, result.brokenBy, o.gallery ?? 10),
    time_s: (performance.now() - t0) / 1000,
    command: o.command ?? libraryCall(ds, o),
  };
}

/**
 * Features changed per worst-case adversarial record, and the share of those records valid in
 * the data set's domain (re-checked here from the records themselves).
 */
function tabularFigures(ds: Dataset, adv: Float32Array, brokenBy: Int8Array): NonNullable<EvalResultV2['tabular']> {
  const size = exampleSize(ds);
  const changed: number[] = [];
  let valid = 0;
  for (let i = 0; i < ds.n; i++) {
    if (brokenBy[i]! < 0) continue;
    const a = adv.subarray(i * size, (i + 1) * size);
    const x = ds.x.subarray(i * size, (i + 1) * size);
    let c = 0;
    for (let j = 0; j < size; j++) if (Math.abs(a[j]! - x[j]!) > 1e-6) c++;
    changed.push(c);
    if (infeasibility(ds.domain, a, x) === undefined) valid++;
  }
  const { median, mean, max } = summarize(changed);
  return { validity_rate: changed.length ? valid / changed.length : 1, features_changed: { median, mean, max } };
}
