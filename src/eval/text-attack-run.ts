import type { TextClassifier } from '../text/text-classifier.js';
import type { TextDataset } from '../data/text-dataset.js';
import type { TextAttack } from '../text/attack/text-attack.js';
import type { TextThreat, WordChange } from '../threat/text-threat.js';
import { summarize, type Summary } from './stats.js';
import { readBack } from '../engine/read-back.js';

/**
 * Predictions, true-class confidences and logit margins of raw texts: batched forward passes
 * through the classifier's own tokenizer (the same path anyone re-checking a result takes).
 *
 * @example
 * ```ts
 * const { pred } = scoreTexts(clf, ['cheap meds now'], [1]);
 * ```
 */
export function scoreTexts(clf: TextClassifier, texts: readonly string[], labels: ArrayLike<number>, batchSize = 256): { pred: Int32Array; conf: number[]; margin: number[] } {
  const pred = new Int32Array(texts.length);
  const conf: number[] = [];
  const margin: number[] = [];
  const k = clf.numClasses;
  for (let s = 0; s < texts.length; s += batchSize) {
    const chunk = texts.slice(s, s + batchSize);
    const z = readBack(() => clf.logitsOfTexts(chunk)) as Float32Array;
    chunk.forEach((_, r) => {
      const y = labels[s + r]!;
      let best = 0;
      let other = -Infinity;
      let sum = 0;
      const top = Math.max(...z.subarray(r * k, (r + 1) * k));
      for (let j = 0; j < k; j++) {
        const v = z[r * k + j]!;
        if (v > z[r * k + best]!) best = j;
        if (j !== y && v > other) other = v;
        sum += Math.exp(v - top);
      }
      pred[s + r] = best;
      conf.push(Math.exp(z[r * k + y]! - top) / sum);
      margin.push(z[r * k + y]! - other);
    });
  }
  return { pred, conf, margin };
}

/**
 * One attacked message, verified: what `--save-examples` writes (one JSON line each).
 *
 * @example
 * ```ts
 * const textClf = await loadTextClassifier('runs/text-cnn');
 * const texts: TextDataset = { name: 'mine', texts: ['Win a FREE prize now', 'Lunch at noon?'], y: Int32Array.from([1, 0]), n: 2, numClasses: 2, classNames: ['ham', 'spam'] };
 * const run = await runTextAttack(textClf, texts, createTextAttack('pwws'), { threat: textThreat(textClf.tokenizer) });
 * for (const e of run.examples as TextExample[]) if (e.success) console.log(e.index, e.changed_words);
 * ```
 */
export interface TextExample {
  /** Row of the message in the evaluated split. */
  index: number;
  original: string;
  /** The adversarial message (the best attempt when the attack failed). */
  adversarial: string;
  /** True class and the predictions before and after, by class name. */
  label: string;
  predicted_before: string;
  predicted_after: string;
  /** Word edits from the original to the adversarial message (a minimal alignment). */
  changed_words: WordChange[];
  /** Share of the original's words changed. */
  share: number;
  /** Model queries spent on this message (candidate texts scored, plus gradients). */
  queries: number;
  /** Verified: a fresh forward pass predicts another class (or the target) and the text lies inside the threat. */
  success: boolean;
  /** The attack that produced it. */
  attack: string;
}

/**
 * One text attack over a set of messages, verified.
 *
 * @example
 * ```ts
 * const textClf = await loadTextClassifier('runs/text-cnn');
 * const texts: TextDataset = { name: 'mine', texts: ['Win a FREE prize now', 'Lunch at noon?'], y: Int32Array.from([1, 0]), n: 2, numClasses: 2, classNames: ['ham', 'spam'] };
 * const r: TextRunResult = await runTextAttack(textClf, texts, createTextAttack('pwws'), { threat: textThreat(textClf.tokenizer) });
 * console.log(r.success_rate, r.words_changed.median, r.queries.median);
 * ```
 */
export interface TextRunResult {
  attack: string;
  params: Readonly<Record<string, number | string | boolean>>;
  /** Messages attacked (correctly classified ones of the attacked classes). */
  attacked: number;
  /** Verified successes. */
  succeeded: number;
  success_rate: number;
  /** Successes the attack claimed but the fresh forward pass or the threat's check refused (should be 0). */
  unverified: number;
  /** Share of words changed, over the verified successes. */
  words_changed: Summary;
  /** Queries per attacked message. */
  queries: Summary;
  time_s: number;
  seconds_per_message: number;
  /** Every attacked message, in row order. */
  examples: TextExample[];
}

/**
 * How {@link runTextAttack} picks and attacks messages.
 *
 * @example
 * ```ts
 * const opts: TextRunOptions = { threat: textThreat(defaultTokenizer()), seed: 0, classes: [1] };
 * ```
 */
export interface TextRunOptions {
  threat: TextThreat;
  seed?: number;
  /** Classes whose correctly classified messages are attacked; default: the class named 'spam' if any, else all. */
  classes?: readonly number[];
  /** Only these rows (still subject to `classes` and correctness); default all. */
  rows?: readonly number[];
  /** Clean predictions of every row when already known (saves a pass). */
  cleanPred?: Int32Array;
  /** Called after each message with (done, total). */
  onMessage?: (done: number, total: number) => void;
}

/** The classes attacked by default: the spammer's ('spam') when the data set has it, else every class. */
export function defaultAttackedClasses(classNames: readonly string[]): number[] {
  const spam = classNames.findIndex((c) => c.toLowerCase() === 'spam');
  return spam >= 0 ? [spam] : classNames.map((_, i) => i);
}

/**
 * Runs a text attack over the correctly classified messages of the attacked classes (by
 * default the spam a filter catches) and re-verifies every result before it counts: a fresh
 * batched forward pass through the classifier on the adversarial texts, and the threat's own
 * check of the two strings (budget, stop words, URLs / e-mail addresses / numbers).
 *
 * @example
 * ```ts
 * const textClf = await loadTextClassifier('runs/text-cnn');
 * const texts: TextDataset = { name: 'mine', texts: ['Win a FREE prize now', 'Lunch at noon?'], y: Int32Array.from([1, 0]), n: 2, numClasses: 2, classNames: ['ham', 'spam'] };
 * const r = await runTextAttack(textClf, texts, createTextAttack('deepwordbug'), { threat: textThreat(textClf.tokenizer), seed: 0 });
 * ```
 */
export async function runTextAttack(clf: TextClassifier, ds: TextDataset, attack: TextAttack, opts: TextRunOptions): Promise<TextRunResult> {
  const t0 = performance.now();
  const classes = new Set(opts.classes ?? defaultAttackedClasses(ds.classNames));
  const candidates = opts.rows ?? Array.from({ length: ds.n }, (_, i) => i);
  const before = opts.cleanPred ?? scoreTexts(clf, candidates.map((i) => ds.texts[i]!), candidates.map((i) => ds.y[i]!)).pred;
  const predOf = (k: number) => (opts.cleanPred ? before[candidates[k]!]! : before[k]!);
  const rows = candidates.filter((i, k) => classes.has(ds.y[i]!) && predOf(k) === ds.y[i]);
  const name = (c: number) => ds.classNames[c] ?? String(c);
  const outcomes = [];
  for (let k = 0; k < rows.length; k++) {
    const i = rows[k]!;
    outcomes.push(attack.attack(clf, ds.texts[i]!, ds.y[i]!, { threat: opts.threat, seed: opts.seed ?? 0, index: i }));
    opts.onMessage?.(k + 1, rows.length);
    if (k % 8 === 7) await new Promise((r) => setImmediate(r));
  }
  const after = scoreTexts(clf, outcomes.map((o) => o.adversarial), rows.map((i) => ds.y[i]!)).pred;
  const check = opts.threat.check(outcomes.map((o) => o.original), outcomes.map((o) => o.adversarial));
  let unverified = 0;
  const examples = outcomes.map((o, k): TextExample => {
    const i = rows[k]!;
    const moved = after[k] !== ds.y[i];
    const success = moved && check.inside[k] === 1;
    if (o.success && !success) unverified++;
    return {
      index: i,
      original: o.original,
      adversarial: o.adversarial,
      label: name(ds.y[i]!),
      predicted_before: name(o.predBefore),
      predicted_after: name(after[k]!),
      changed_words: opts.threat.diff(o.original, o.adversarial).changes,
      share: check.distance[k]!,
      queries: o.queries + o.gradients,
      success,
      attack: attack.name,
    };
  });
  const wins = examples.filter((e) => e.success);
  const time = (performance.now() - t0) / 1000;
  return {
    attack: attack.name,
    params: attack.params,
    attacked: rows.length,
    succeeded: wins.length,
    success_rate: rows.length ? wins.length / rows.length : 0,
    unverified,
    words_changed: summarize(wins.map((e) => e.share)),
    queries: summarize(examples.map((e) => e.queries)),
    time_s: time,
    seconds_per_message: rows.length ? time / rows.length : 0,
    examples,
  };
}
