import { selectBackend } from '../engine/backend.js';
import { boundsOf, type Domain } from '../data/domain.js';
import { barProgress, lineProgress, type ProgressReporter } from '../training/progress.js';

export { VERSION } from '../version.js';

/** Starts the engine the user chose and says which one runs. */
export async function startEngine(opts: { backend: string; threads?: number }, log: (s: string) => void): Promise<{ backend: string; threads?: number }> {
  const info = await selectBackend(opts.backend, { threads: opts.threads });
  log(`engine: ${info.name} — ${info.reason}`);
  return { backend: info.name, threads: opts.threads };
}

/** A progress bar on a terminal, log lines elsewhere. */
export function defaultProgress(): ProgressReporter {
  return process.stderr.isTTY ? barProgress() : lineProgress();
}

/** Logs to stderr so stdout stays clean for results. */
export const log = (s: string): void => {
  process.stderr.write(s + '\n');
};

/**
 * A warning when a norm ball of this budget holds the whole input box: every input in the
 * domain is then reachable, so robust accuracy measures nothing (`linf:2` on pixels in [0, 1]).
 *
 * @example
 * ```ts
 * threatCoverageWarning(parseThreat('linf:2'), UNIT_BOX, 784); // 'linf:2 reaches every input …'
 * ```
 */
export function threatCoverageWarning(threat: { norm?: string; eps?: number; toString(): string }, domain: Domain, features: number): string | undefined {
  if (threat.norm === undefined || threat.eps === undefined) return undefined;
  let linf = 0;
  let l2 = 0;
  let l1 = 0;
  for (let j = 0; j < features; j++) {
    const [lo, hi] = boundsOf(domain, j);
    const w = hi - lo;
    linf = Math.max(linf, w);
    l2 += w * w;
    l1 += w;
  }
  const diameter: Record<string, number> = { linf, l2: Math.sqrt(l2), l1, l0: features };
  const d = diameter[threat.norm];
  if (d === undefined || !(threat.eps >= d)) return undefined;
  return `warning: ${threat} reaches every input of the domain (its ${threat.norm} diameter is ${+d.toPrecision(4)}), so any input can be turned into any other: robust accuracy will measure nothing; choose a smaller budget`;
}

/** Logs {@link threatCoverageWarning}, if any. */
export function warnIfThreatCoversDomain(threat: { norm?: string; eps?: number; toString(): string }, domain: Domain, shape: number[]): void {
  const w = threatCoverageWarning(threat, domain, shape.reduce((a, b) => a * b, 1));
  if (w) log(w);
}
