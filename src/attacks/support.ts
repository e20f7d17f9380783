import { UserError } from '../errors.js';
import type { Norm } from '../threat/threat-model.js';
import type { AnyThreat } from '../threat/threat.js';

/** How an attack must see the model: its input gradient, its scores, or only its decisions (labels). */
export type AttackAccess = 'gradient' | 'scores' | 'decision';

/**
 * What an attack works with, declared once per attack (and listed by the registry): the threat
 * kinds and norms it supports, the model access it needs, and the names of its hyperparameters.
 */
export interface AttackSupport {
  /** The norms of the norm-bounded threats it attacks (empty: none). */
  readonly norms: readonly Norm[];
  /** True when it attacks spatial threats. */
  readonly spatial?: boolean;
  readonly access: AttackAccess;
  /**
   * True for constrained attacks (CAPGD, MOEVA, CAA): they honour the domain's relations and
   * immutable features, so their records are valid by construction. On a data set with
   * relations, an attack without it is run as published — it sees only the box — and its
   * records are validated against the full domain afterwards (see `validity_rate`).
   */
  readonly constrained?: boolean;
  /**
   * True when the attack keeps `window` examples in flight (see `AttackOptions.window`),
   * starting a waiting example whenever one finishes, so its batches stay full; runAttack then
   * hands it several batches' worth of examples at once. Each example's result is the same as
   * when it is attacked alone (its random streams and iteration count are its own).
   */
  readonly refills?: boolean;
  /** Every hyperparameter key its constructor takes (what `--params` may set). */
  readonly params: readonly string[];
}

/** The threats an attack supports, in words, e.g. 'linf, l2 or l1' or 'spatial:…'. */
export function supportedThreats(s: AttackSupport): string {
  const names = [...s.norms.map((n) => `${n}:EPS`), ...(s.spatial ? ['spatial:rot=…,trans=…'] : [])];
  return names.length <= 1 ? (names[0] ?? 'none') : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
}

/** True when the attack works under `threat`. */
export function supportsThreat(s: AttackSupport, threat: AnyThreat): boolean {
  return threat.kind === 'spatial' ? !!s.spatial : s.norms.includes(threat.norm);
}

/**
 * Refuses, before any work, a threat the attack does not support, naming those it does.
 *
 * @example
 * ```ts
 * requireThreat('pgd', PGD_SUPPORT, parseThreat('l0:5')); // UserError: attack pgd does not support l0:5 …
 * ```
 */
export function requireThreat(name: string, s: AttackSupport, threat: AnyThreat): void {
  if (!supportsThreat(s, threat)) throw new UserError(`attack ${name} does not support the threat ${threat}: it supports ${supportedThreats(s)}`);
}

/** Refuses hyperparameter keys the attack does not take, listing those it does. */
export function requireParamKeys(name: string, s: AttackSupport, params: Record<string, unknown>): void {
  const unknown = Object.keys(params).filter((k) => !s.params.includes(k));
  if (unknown.length) {
    throw new UserError(`attack ${name} has no parameter ${unknown.map((k) => `'${k}'`).join(', ')}: its parameters are ${s.params.join(', ')}`);
  }
}
