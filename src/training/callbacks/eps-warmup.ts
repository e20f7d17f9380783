import { lpThreat, type ThreatModel } from '../../threat/threat-model.js';

/**
 * ε warm-up: the threat at fractional epoch t, ε growing linearly from 0 over the first
 * `warmup` epochs (L0 budgets are whole pixels, rounded down). Without a threat: undefined.
 *
 * @example
 * ```ts
 * const at = epsWarmup(parseThreat('linf:0.3'), 2);
 * at(1).eps; // 0.15
 * ```
 */
export function epsWarmup(threat: ThreatModel | undefined, warmup = 0): (t: number) => ThreatModel | undefined {
  return (t) => {
    if (!threat) return undefined;
    return warmup > 0 && t < warmup ? lpThreat(threat.norm, threat.norm === 'l0' ? Math.floor((threat.eps * t) / warmup) : (threat.eps * t) / warmup) : threat;
  };
}
