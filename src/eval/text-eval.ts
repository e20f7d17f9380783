import type { TextClassifier } from '../text/text-classifier.js';
import type { TextDataset } from '../data/text-dataset.js';
import { createTextAttack, textAttackNames } from '../text/attack/recipes.js';
import type { TextAttack } from '../text/attack/text-attack.js';
import type { TextThreat } from '../threat/text-threat.js';
import { resultHeader } from './result-header.js';
import { marginOf } from './margin.js';
import { perClass } from './per-class.js';
import { EVAL_SCHEMA, type AttackRow, type EvalCommand, type EvalResultV2, type TextAttackFigures, type TextExampleView } from './schema.js';
import { summarize, type Summary } from './stats.js';
import { defaultAttackedClasses, runTextAttack, scoreTexts, type TextExample } from './text-attack-run.js';
import { loadRunState, saveRunState, type StateSettings } from './run-state.js';
import { killPoint } from '../training/kill-point.js';

/**
 * The text preset: the five text attacks, cheapest first, so the costly ones run only on the
 * messages the cheap ones could not break.
 *
 * @example
 * ```ts
 * const attacks = textPreset({ maxQueries: 2000 });
 * ```
 */
export function textPreset(params: { maxQueries?: number } = {}): TextAttack[] {
  const order = ['deepwordbug', 'pwws', 'hotflip', 'goodword', 'genetic-text'];
  if (order.some((n) => !textAttackNames().includes(n))) throw new Error('text preset names an unregistered attack');
  return order.map((n) => createTextAttack(n, params.maxQueries ? { maxQueries: params.maxQueries } : {}));
}

/**
 * The options of {@link evaluateText}.
 *
 * @example
 * ```ts
 * const o: TextEvalOptions = { threat: textThreat(defaultTokenizer()), seed: 0 };
 * ```
 */
export interface TextEvalOptions {
  threat: TextThreat;
  /** The ensemble (default {@link textPreset}). */
  attacks?: TextAttack[];
  seed?: number;
  /** Classes attacked (default: 'spam' when the data set has it, else all). */
  classes?: readonly number[];
  /** Messages of the report's example list (default 12: broken first). */
  examples?: number;
  describe?: { model?: EvalResultV2['model']; dataset?: string; engine?: EvalResultV2['engine']; versions?: EvalResultV2['versions'] };
  command?: EvalCommand;
  onProgress?: (stage: string, done: number, total: number) => void;
  /** Messages per resumable chunk of an attack. Default 50. */
  chunk?: number;
  /** Where the state is saved after every chunk (one file, see run-state.ts); an existing state with the same settings is resumed. */
  statePath?: string;
  /** Settings the saved state must also match besides the evaluation's own (the CLI adds the model's digest). */
  stateSettings?: StateSettings;
  /** Called after each chunk (tests use it to simulate a kill). */
  afterChunk?: (attack: number, chunk: number) => void;
}

/** What an interrupted text evaluation resumes from. */
interface TextEvalState {
  /** The attack running, and its next chunk. */
  member: number;
  chunk: number;
  /** Rows the running attack attacks: those every earlier attack failed on. */
  todo: number[];
  /** Per row attacked so far: the breaking attack's example, or the latest attempt; and the queries spent on it. */
  worst: TextExample[];
  spent: [number, number][];
  rows: AttackRow[];
  figures: TextAttackFigures[];
  broken: number;
  /** The running attack's examples and seconds so far. */
  pending: { examples: TextExample[]; time_s: number; unverified: number };
  /** Seconds the evaluation has run, over every earlier interrupted run. */
  elapsed_s: number;
}

const STATE_LABELS = { what: 'evaluation', startOver: 'delete it (or choose another --json path)' };

/** The evaluation and every attacked message's worst-case example (for `--save-examples`). */
export interface TextEvalOutcome {
  result: EvalResultV2;
  /** One entry per attacked message: the breaking attack's example, or the last attack's attempt. */
  examples: TextExample[];
}

const stat = (s: Summary) => ({ median: s.median, mean: s.mean, max: s.max });

/**
 * Evaluates a text classifier against an ensemble of text attacks, AutoAttack's way: each
 * attack runs only on the messages every earlier one failed on, a message counts as broken when
 * any attack fooled the model (verified with a fresh forward pass and the threat's check), and
 * the result is an `advtrain/eval@2` file with a `text` section (success rate, share of words
 * changed, queries per message, per-attack figures, examples) and the robustness margin. With
 * `statePath`, progress is saved after every chunk of messages and an interrupted evaluation
 * resumes where it stopped with the same result (each message's attack is seeded by its row).
 *
 * @example
 * ```ts
 * const textClf = await loadTextClassifier('runs/text-cnn');
 * const texts: TextDataset = { name: 'mine', texts: ['Win a FREE prize now', 'Lunch at noon?'], y: Int32Array.from([1, 0]), n: 2, numClasses: 2, classNames: ['ham', 'spam'] };
 * const { result: r, examples } = await evaluateText(textClf, texts, { threat: textThreat(textClf.tokenizer), seed: 0 });
 * console.log(r.text!.success_rate, r.robust_accuracy, examples.length);
 * ```
 */
export async function evaluateText(clf: TextClassifier, ds: TextDataset, o: TextEvalOptions): Promise<TextEvalOutcome> {
  const t0 = performance.now();
  const seed = o.seed ?? 0;
  const attacks = o.attacks ?? textPreset();
  const classes = o.classes ?? defaultAttackedClasses(ds.classNames);
  const stage = (name: string) => (done: number, total: number) => o.onProgress?.(name, done, total);
  stage('clean')(0, 1);
  const clean = scoreTexts(clf, ds.texts, ds.y);
  stage('clean')(1, 1);
  const correct = (i: number) => clean.pred[i] === ds.y[i];
  const firstTodo = Array.from({ length: ds.n }, (_, i) => i).filter((i) => correct(i) && classes.includes(ds.y[i]!));
  const attacked = firstTodo.length;
  const nCorrect = Array.from({ length: ds.n }, (_, i) => i).filter(correct).length;
  const chunk = o.chunk ?? 50;
  if (!(Number.isInteger(chunk) && chunk >= 1)) throw new Error(`messages per chunk must be a positive integer (got ${chunk})`);
  const settings: StateSettings = {
    ...o.stateSettings,
    '--dataset': o.describe?.dataset ?? ds.name,
    '--n': ds.n,
    '--threat': o.threat.toString(),
    '--seed': seed,
    '--preset': JSON.stringify(attacks.map((a) => [a.name, a.params])),
    classes: JSON.stringify(classes),
    chunk,
  };
  const s: TextEvalState = (o.statePath ? loadRunState<TextEvalState>(o.statePath, settings, STATE_LABELS)?.data : undefined) ?? {
    member: 0,
    chunk: 0,
    todo: firstTodo,
    worst: [],
    spent: [],
    rows: [],
    figures: [],
    broken: 0,
    pending: { examples: [], time_s: 0, unverified: 0 },
    elapsed_s: 0,
  };
  const elapsedBefore = s.elapsed_s;
  const worst = new Map(s.worst.map((e) => [e.index, e]));
  const spent = new Map(s.spent);
  const save = (next: Partial<TextEvalState>) => {
    if (!o.statePath) return;
    const elapsed_s = elapsedBefore + (performance.now() - t0) / 1000;
    saveRunState(o.statePath, settings, { ...s, worst: [...worst.values()], spent: [...spent], elapsed_s, ...next });
    killPoint('text-eval-chunk');
  };
  for (; s.member < attacks.length; s.member++) {
    const attack = attacks[s.member]!;
    const chunks = Math.ceil(s.todo.length / chunk);
    for (; s.chunk < chunks; s.chunk++) {
      const part = s.todo.slice(s.chunk * chunk, (s.chunk + 1) * chunk);
      const done = s.chunk * chunk;
      const r = await runTextAttack(clf, ds, attack, { threat: o.threat, seed, classes, rows: part, cleanPred: clean.pred, onMessage: (k) => stage(attack.name)(done + k, s.todo.length) });
      for (const e of r.examples) {
        spent.set(e.index, (spent.get(e.index) ?? 0) + e.queries);
        if (!worst.has(e.index) || e.success) worst.set(e.index, e);
      }
      s.pending.examples.push(...r.examples);
      s.pending.time_s += r.time_s;
      s.pending.unverified += r.unverified;
      save({ chunk: s.chunk + 1 });
      o.afterChunk?.(s.member, s.chunk);
    }
    const examples = s.pending.examples;
    const won = examples.filter((e) => e.success);
    const wins = new Set(won.map((e) => e.index));
    const n = examples.length;
    const rate = n ? won.length / n : 0;
    const queries = summarize(examples.map((e) => e.queries));
    s.broken += wins.size;
    s.rows.push({
      name: attack.name,
      params: { ...attack.params },
      robust_accuracy: (nCorrect - s.broken) / ds.n,
      attack_accuracy: n ? 1 - rate : 1,
      queries: { median: queries.median ?? 0, mean: queries.mean ?? 0, total: queries.total },
      time_s: s.pending.time_s,
      attacked: n,
    });
    s.figures.push({
      name: attack.name,
      attacked: n,
      success_rate: rate,
      words_changed: stat(summarize(won.map((e) => e.share))),
      queries: { ...stat(queries), total: queries.total },
      seconds_per_message: n ? s.pending.time_s / n : 0,
      unverified: s.pending.unverified,
    });
    s.todo = s.todo.filter((i) => !wins.has(i));
    s.chunk = 0;
    s.pending = { examples: [], time_s: 0, unverified: 0 };
    save({ member: s.member + 1 });
  }
  const { rows, figures } = s;
  const examples = [...worst.values()].sort((a, b) => a.index - b.index).map((e) => ({ ...e, queries: spent.get(e.index) ?? e.queries }));
  const won = examples.filter((e) => e.success);
  // Margin over the correctly classified messages: clean, and the worst-case text (the original where nothing broke it).
  const rowsCorrect = Array.from({ length: ds.n }, (_, i) => i).filter(correct);
  const advText = rowsCorrect.map((i) => (worst.get(i)?.success ? worst.get(i)!.adversarial : ds.texts[i]!));
  const adv = scoreTexts(clf, advText, rowsCorrect.map((i) => ds.y[i]!));
  const margin = marginOf({ conf: rowsCorrect.map((i) => clean.conf[i]!), margin: rowsCorrect.map((i) => clean.margin[i]!) }, adv);
  const brokenSet = new Set(won.map((e) => e.index));
  const cleanCorrect = Uint8Array.from({ length: ds.n }, (_, i) => (correct(i) ? 1 : 0));
  const robust = Uint8Array.from(cleanCorrect, (c, i) => (c && !brokenSet.has(i) ? 1 : 0));
  const nEx = o.examples ?? 12;
  const shown = [...won.slice(0, Math.ceil((nEx * 2) / 3)), ...examples.filter((e) => !e.success).slice(0, Math.floor(nEx / 3))];
  const views: TextExampleView[] = shown.map((e) => ({
    index: e.index,
    label: e.label,
    predicted_after: e.predicted_after,
    outcome: e.success ? 'broken' : 'survived',
    attack: e.attack,
    original: e.original,
    adversarial: e.adversarial,
    changed_words: e.changed_words,
    share: e.share,
    queries: e.queries,
  }));
  const qs = summarize(examples.map((e) => e.queries));
  const result: EvalResultV2 = {
    ...resultHeader(EVAL_SCHEMA, seed, o.describe ?? {}),
    model: o.describe?.model ?? { path: 'memory' },
    data: { dataset: o.describe?.dataset ?? ds.name, split: 'test', n: ds.n, classes: [...ds.classNames] },
    threat: o.threat.toString(),
    preset: 'text',
    clean_accuracy: ds.n ? nCorrect / ds.n : 0,
    robust_accuracy: ds.n ? (nCorrect - brokenSet.size) / ds.n : 0,
    attacks: rows,
    per_class: perClass(ds, cleanCorrect, robust),
    margin,
    checks: [],
    gallery: [],
    time_s: elapsedBefore + (performance.now() - t0) / 1000,
    command: o.command ?? { call: `evaluateText(clf, ${ds.name} (${ds.n} messages), { threat: '${o.threat}', attacks: [${attacks.map((a) => a.name).join(', ')}], seed: ${seed} })` },
    text: {
      attacked_classes: classes.map((c) => ds.classNames[c] ?? String(c)),
      attacked,
      success_rate: attacked ? won.length / attacked : 0,
      words_changed: stat(summarize(won.map((e) => e.share))),
      queries_per_example: { ...stat(qs), total: qs.total },
      attacks: figures,
      examples: views,
    },
  };
  return { result, examples };
}
