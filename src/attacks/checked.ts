import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../model/classifier.js';
import { UserError } from '../errors.js';
import type { ThreatModel } from '../threat/threat-model.js';
import type { AnyThreat } from '../threat/threat.js';
import { clipToDomain } from '../threat/domain-clip.js';
import type { Attack, AttackOptions, AttackResult } from './attack.js';
import { requireParamKeys, requireThreat, type AttackSupport } from './support.js';

/** What {@link CheckedAttack.attack} receives besides the batch: the checked options. */
export interface AttackContext<T extends AnyThreat = ThreatModel> {
  threat: T;
  /** Target classes [b] when the run is targeted, else undefined. */
  target?: tf.Tensor1D;
  /** The run's seed (an integer; default 0). */
  seed: number;
  /** Each example's global index (`opts.indices`, default 0..b−1): the key of its random streams. */
  indices: Int32Array;
  /** The options as the caller gave them (progress callback, attack-specific extras). */
  opts: AttackOptions<T>;
}

/**
 * The targets of a run: `opts.targets` when targeted (refused when missing or of the wrong
 * length), else undefined.
 */
export function targetOf(opts: AttackOptions<AnyThreat>, batch: number): tf.Tensor1D | undefined {
  if (!opts.targeted) return undefined;
  if (!opts.targets) throw new UserError('a targeted attack needs target classes');
  if (opts.targets.shape[0] !== batch) throw new UserError(`a targeted attack needs one target class per example (${opts.targets.shape[0]} targets for ${batch} examples)`);
  return opts.targets;
}

/** The run's seed: `opts.seed` (an integer), default 0. */
export function seedOf(opts: AttackOptions<AnyThreat>): number {
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed)) throw new UserError(`an attack seed must be an integer (got ${seed})`);
  return seed;
}

/** The examples' global indices: `opts.indices` (integers, one per example), default 0..b−1. */
export function indicesOf(opts: AttackOptions<AnyThreat>, batch: number): Int32Array {
  if (!opts.indices) return Int32Array.from({ length: batch }, (_, i) => i);
  if (opts.indices.length !== batch) throw new UserError(`attack options: ${opts.indices.length} example indices for ${batch} examples`);
  const out = Int32Array.from(opts.indices);
  if (out.some((v, i) => v !== opts.indices![i])) throw new UserError('attack options: example indices must be 32-bit integers');
  return out;
}

/**
 * The skeleton every attack runs through (as Foolbox's attack base classes): hyperparameters
 * merged over the defaults, unknown keys refused; then each `run` refuses an unsupported threat
 * and bad targets or seeds before any model query, calls the attack's own `attack`, and checks
 * what it returns: clipped into the domain, and every input inside the threat set (its `check`)
 * — an input outside is a bug in the attack, and this throws.
 *
 * @example
 * ```ts
 * class Noise extends CheckedAttack<{ scale: number }> {
 *   constructor(p: Partial<{ scale: number }> = {}) { super('noise', NOISE_SUPPORT, { scale: 1 }, p); }
 *   protected async attack(clf, x, y, ctx) { ... }
 * }
 * ```
 */
export abstract class CheckedAttack<P extends Readonly<Record<string, unknown>>, T extends AnyThreat = ThreatModel, R extends AttackResult = AttackResult> implements Attack<T> {
  readonly params: P;

  constructor(
    readonly name: string,
    readonly support: AttackSupport,
    defaults: P,
    params: Partial<P>,
  ) {
    requireParamKeys(name, support, Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)));
    this.params = { ...defaults, ...params };
  }

  async run(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, opts: AttackOptions<T>): Promise<R> {
    requireThreat(this.name, this.support, opts.threat);
    const target = targetOf(opts, x.shape[0]!);
    const r = await this.attack(clf, x, y, { threat: opts.threat, target, seed: seedOf(opts), indices: indicesOf(opts, x.shape[0]!), opts });
    return verifyResult(this.name, clf, x, opts.threat, r);
  }

  /** Attacks one batch; the options are already checked. */
  protected abstract attack(clf: Classifier, x: tf.Tensor, y: tf.Tensor1D, ctx: AttackContext<T>): Promise<R>;
}

/**
 * Clips `r.xAdv` into the domain and throws when an input lies outside the threat set. Replaces
 * `r.xAdv` (the old tensor is disposed). Success is not re-checked here: that would cost a model
 * query the result does not report; runAttack (src/eval/attack-run.ts) re-checks it with its own forward pass.
 */
export function verifyResult<R extends AttackResult>(name: string, clf: Classifier, x: tf.Tensor, threat: AnyThreat, r: R): R {
  const xAdv = clipToDomain(r.xAdv, clf.domain, x, threat.kind === 'norm' ? threat : undefined);
  if (xAdv !== r.xAdv) r.xAdv.dispose();
  r.xAdv = xAdv;
  const verdict = threat.check(x, xAdv, r.distance);
  const bad = verdict.inside.indexOf(0);
  if (bad >= 0) throw new Error(`attack ${name} returned an input at distance ${verdict.distance[bad]} > ${threat.budget} (${threat}): this is a bug in the attack`);
  return r;
}
