/** What reproduces an evaluation: the command line as run, or a description of the library call. */
import type { Dataset } from '../data/dataset.js';
import type { AnyThreat } from '../threat/threat.js';
import type { Member } from './presets.js';
import type { EvalCommand, Preset } from './schema.js';

/** The options of `evaluate()` that decide its figures (a structural subset of EvaluateOptions). */
export interface CallOptions {
  threat: AnyThreat;
  preset: Preset;
  members?: Member[];
  seed?: number;
  epsCurve?: number[];
  curveN?: number;
  minimalNorms?: string[];
  minimalN?: number;
  checks?: boolean;
  checkN?: number;
  gallery?: number;
}

/**
 * Describes an `evaluate()` call for the result file, when the caller passed no command:
 * the data it ran on and every option that changes a figure, defaults spelled out.
 *
 * @example
 * ```ts
 * libraryCall(subset(test, 100), { threat: parseThreat('linf:0.3'), preset: 'quick' }).call;
 * // "evaluate(classifier, first 100 of mnist/test, { threat: 'linf:0.3', preset: 'quick', seed: 0, checks: true, checkN: 200, gallery: 10 })"
 * ```
 */
export function libraryCall(ds: Pick<Dataset, 'n' | 'name'>, o: CallOptions): EvalCommand {
  const opts: string[] = [`threat: '${o.threat}'`, `preset: '${o.preset}'`];
  if (o.preset === 'custom') {
    const member = (m: Member) => `${m.attack.name}${JSON.stringify(Object.fromEntries(Object.entries(m.attack.params).filter(([, v]) => ['number', 'string', 'boolean'].includes(typeof v))))}`;
    opts.push(`members: [${(o.members ?? []).map(member).join(', ')}]`);
  }
  opts.push(`seed: ${o.seed ?? 0}`);
  if (o.epsCurve?.length) opts.push(`epsCurve: [${o.epsCurve.join(', ')}]`, `curveN: ${o.curveN ?? 500}`);
  if (o.minimalNorms?.length) opts.push(`minimalNorms: [${o.minimalNorms.map((n) => `'${n}'`).join(', ')}]`, `minimalN: ${o.minimalN ?? 200}`);
  opts.push(`checks: ${o.checks ?? true}`);
  if (o.checks ?? true) opts.push(`checkN: ${o.checkN ?? 200}`);
  opts.push(`gallery: ${o.gallery ?? 10}`);
  return { call: `evaluate(classifier, first ${ds.n} of ${ds.name}, { ${opts.join(', ')} })` };
}

/**
 * Quotes a command line for a POSIX shell: words of safe characters stay bare, others are
 * single-quoted.
 *
 * @example
 * ```ts
 * shellLine(['advtrain', 'eval', '--model', 'my runs/m']); // "advtrain eval --model 'my runs/m'"
 * ```
 */
export function shellLine(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
