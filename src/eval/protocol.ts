import type { Classifier } from '../model/classifier.js';
import type { Dataset } from '../data/dataset.js';
import { exampleSize } from '../data/dataset.js';
import { take } from '../data/batching.js';
import { evaluateClean } from '../model/accuracy.js';
import type { AnyThreat } from '../threat/threat.js';
import { requireThreat } from '../attacks/support.js';
import { runAttack } from './attack-run.js';
import type { Member } from './presets.js';
import { loadRunState, saveRunState, type StateSettings } from './run-state.js';
import { summarize } from './stats.js';
import { UserError } from '../errors.js';
import { killPoint } from '../training/kill-point.js';
import { deriveSeed } from '../data/rng.js';

/** One ensemble member's row in the result. */
export interface MemberResult {
  name: string;
  params: Readonly<Record<string, unknown>>;
  access: 'white-box' | 'black-box';
  /** Worst-case robust accuracy after this attack (over all n). */
  robust_accuracy: number;
  /** Points this attack ran on (those still robust before it). */
  attacked: number;
  /** Points it broke. */
  broken: number;
  queries: { median: number | null; mean: number | null; total: number };
  time_s: number;
  /** Fraction of the attacked points whose record was valid in the domain (an invalid one is not adversarial). */
  validity_rate: number;
}

/**
 * The worst case over an ensemble, per example and in total.
 *
 * @example
 * ```ts
 * const r: ProtocolResult = await evaluateEnsemble(clf, subset(test, 200), { threat, members: presetMembers('quick', threat) });
 * console.log(r.clean_accuracy, r.robust_accuracy);
 * ```
 */
export interface ProtocolResult {
  n: number;
  clean_accuracy: number;
  robust_accuracy: number;
  members: MemberResult[];
  /** Per example: 1 if correct on clean inputs. */
  cleanCorrect: Uint8Array;
  /** Per example: 1 if it survived every attack. */
  robust: Uint8Array;
  /** Per example: index of the member that broke it, −1 if none (or clean error: −2). */
  brokenBy: Int8Array;
  /** Per example adversarial input: the breaking one, or the last attack's best attempt (clean input for clean errors). */
  adv: Float32Array;
  time_s: number;
}

/**
 * Options of {@link evaluateEnsemble}.
 *
 * @example
 * ```ts
 * const opts: ProtocolOptions = { threat: parseThreat('linf:0.3'), members: presetMembers('quick', parseThreat('linf:0.3')), seed: 0 };
 * const r = await evaluateEnsemble(clf, subset(test, 200), opts);
 * ```
 */
export interface ProtocolOptions {
  threat: AnyThreat;
  members: Member[];
  seed?: number;
  batchSize?: number;
  /** Examples per resumable chunk. Default 500. */
  chunk?: number;
  /** Where the state is saved as it goes (one file, see run-state.ts); an existing state with the same settings is resumed. */
  statePath?: string;
  /** Progress: (member index, examples done, examples to do for this member). */
  onProgress?: (member: number, done: number, total: number) => void;
  /** Called after each chunk (tests use it to simulate a kill). */
  afterChunk?: (member: number, chunk: number) => void;
}

interface State {
  member: number;
  chunk: number;
  /** Indices still robust when the current member started. */
  todo: number[];
  robust: number[];
  brokenBy: number[];
  rows: MemberResult[];
  pending: { attacked: number; broken: number; queries: number[]; time_s: number; valid?: number };
  time_s: number;
}

const STATE_LABELS = { what: 'evaluation', startOver: 'delete it (or choose another --json path)' };

function saveState(path: string, settings: StateSettings, s: State, adv: Float32Array): void {
  saveRunState(path, settings, s, new Uint8Array(adv.buffer, adv.byteOffset, adv.byteLength));
}

function loadState(path: string, settings: StateSettings, adv: Float32Array): State | undefined {
  const loaded = loadRunState<State>(path, settings, STATE_LABELS);
  if (!loaded) return undefined;
  if (loaded.blob.byteLength !== adv.byteLength) throw new UserError(`evaluation state ${path} holds ${loaded.blob.byteLength} bytes of adversarial inputs, not ${adv.byteLength}: delete it to start over`);
  adv.set(new Float32Array(loaded.blob.buffer, loaded.blob.byteOffset, adv.length));
  return loaded.data;
}

function qstats(q: number[]): MemberResult['queries'] {
  const { median, mean, total } = summarize(q);
  return { median, mean, total };
}

/**
 * The evaluation protocol: each attack of the ensemble runs only on the points still robust,
 * and an example counts as robust only if it survives all of them (per-example worst case, as
 * AutoAttack does). Every adversarial example is re-checked by `runAttack` (prediction, budget,
 * domain). With `statePath`, progress is saved after every chunk of examples and an interrupted
 * run resumes where it stopped with identical results (all seeds depend only on the position).
 *
 * @example
 * ```ts
 * const r = await evaluateEnsemble(clf, subset(test, 1000), { threat, members: presetMembers('standard', threat), statePath: 'out.json.state' });
 * console.log(r.robust_accuracy);
 * ```
 */
export async function evaluateEnsemble(clf: Classifier, ds: Dataset, o: ProtocolOptions): Promise<ProtocolResult> {
  for (const m of o.members) requireThreat(m.attack.name, m.attack.support, o.threat);
  const size = exampleSize(ds);
  const adv = new Float32Array(ds.n * size);
  const clean = evaluateClean(clf, ds, { batchSize: o.batchSize ?? 256 });
  const chunk = o.chunk ?? 500;
  const settings: StateSettings = {
    '--dataset': ds.name,
    '--n': ds.n,
    '--threat': o.threat.toString(),
    '--seed': o.seed ?? 0,
    '--preset': JSON.stringify(o.members.map((m) => [m.attack.name, m.attack.params])),
    chunk,
  };
  let s = o.statePath ? loadState(o.statePath, settings, adv) : undefined;
  if (!s) {
    adv.set(ds.x.subarray(0, ds.n * size));
    const robust = Array.from(clean.correct);
    s = {
      member: 0,
      chunk: 0,
      todo: robust.flatMap((r, i) => (r ? [i] : [])),
      robust,
      brokenBy: robust.map((r) => (r ? -1 : -2)),
      rows: [],
      pending: { attacked: 0, broken: 0, queries: [], time_s: 0, valid: 0 },
      time_s: 0,
    };
  }
  const elapsedBefore = s.time_s;
  const tStart = performance.now();
  for (; s.member < o.members.length; s.member++) {
    const m = o.members[s.member]!;
    const chunks = Math.ceil(s.todo.length / chunk);
    for (; s.chunk < chunks; s.chunk++) {
      const idx = s.todo.slice(s.chunk * chunk, (s.chunk + 1) * chunk);
      const part = take(ds, idx);
      const out = new Float32Array(idx.length * size);
      const r = await runAttack(clf, part, m.attack, {
        threat: o.threat,
        batchSize: o.batchSize,
        seed: deriveSeed(o.seed ?? 0, 'member', s.member),
        exampleIndices: idx,
        advOut: out,
      });
      for (let j = 0; j < idx.length; j++) {
        const i = idx[j]!;
        s.pending.queries.push(r.queriesPer[j]!);
        adv.set(out.subarray(j * size, (j + 1) * size), i * size);
        if (!r.robust[j]) {
          s.robust[i] = 0;
          s.brokenBy[i] = s.member;
          s.pending.broken++;
        }
      }
      s.pending.attacked += idx.length;
      s.pending.valid = (s.pending.valid ?? 0) + Math.round((r.validity_rate ?? 1) * r.attacked);
      s.pending.time_s += r.time_s;
      o.onProgress?.(s.member, Math.min((s.chunk + 1) * chunk, s.todo.length), s.todo.length);
      if (o.statePath) {
        s.time_s = elapsedBefore + (performance.now() - tStart) / 1000;
        saveState(o.statePath, settings, { ...s, chunk: s.chunk + 1 }, adv);
        killPoint('eval-chunk');
      }
      o.afterChunk?.(s.member, s.chunk);
    }
    const robustCount = s.robust.reduce((a, b) => a + b, 0);
    s.rows.push({
      name: m.attack.name,
      params: m.attack.params,
      access: m.access,
      robust_accuracy: ds.n ? robustCount / ds.n : 0,
      attacked: s.pending.attacked,
      broken: s.pending.broken,
      queries: qstats(s.pending.queries),
      time_s: s.pending.time_s,
      validity_rate: s.pending.attacked ? (s.pending.valid ?? s.pending.attacked) / s.pending.attacked : 1,
    });
    s.todo = s.robust.flatMap((r, i) => (r ? [i] : []));
    s.chunk = 0;
    s.pending = { attacked: 0, broken: 0, queries: [], time_s: 0, valid: 0 };
    if (o.statePath) {
      s.time_s = elapsedBefore + (performance.now() - tStart) / 1000;
      saveState(o.statePath, settings, { ...s, member: s.member + 1 }, adv);
    }
  }
  const robust = Uint8Array.from(s.robust);
  const robustCount = robust.reduce((a, b) => a + b, 0);
  return {
    n: ds.n,
    clean_accuracy: clean.accuracy,
    robust_accuracy: ds.n ? robustCount / ds.n : 0,
    members: s.rows,
    cleanCorrect: clean.correct,
    robust,
    brokenBy: Int8Array.from(s.brokenBy),
    adv,
    time_s: elapsedBefore + (performance.now() - tStart) / 1000,
  };
}
