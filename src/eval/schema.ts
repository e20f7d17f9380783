/**
 * The result files: `advtrain/eval@2` (below), `advtrain/attack@1` and `advtrain/transfer@1`.
 *
 * The evaluation result file, schema `advtrain/eval@2`: what `advtrain eval --json` writes and the
 * only input of the HTML report (`renderReport` in html.ts). Accuracies are fractions in [0, 1];
 * times are seconds; class labels and predictions are class indices (names, when known, are in
 * {@link EvalData.classes}).
 *
 * Every field the report reads is declared here; {@link validateEvalResult} checks a parsed file
 * against it and names the first bad field.
 */

/** The value of {@link EvalResultV2.schema}. */
export const EVAL_SCHEMA = 'advtrain/eval@2';

/** Evaluation presets: `quick` (PGD-20 + APGD-CE), `standard` (AutoAttack standard), `thorough`, `custom`, `tabular` (CAA: CAPGD then MOEVA, valid records only) or `text` (the five text attacks). */
export type Preset = 'quick' | 'standard' | 'thorough' | 'tabular' | 'custom' | 'text';

/**
 * Outcome of one reliability check; `not-applicable` when it had nothing to test (e.g. at 0%
 * robust accuracy no example is left to attack), its detail saying why.
 */
export type Verdict = 'pass' | 'warn' | 'fail' | 'not-applicable';

/** Every {@link Verdict}. */
export const VERDICTS: readonly Verdict[] = ['pass', 'warn', 'fail', 'not-applicable'];

/**
 * A histogram: `counts[i]` values fell in `[edges[i], edges[i + 1])` (the last bin is closed).
 * `edges.length === counts.length + 1`, edges increasing.
 */
export interface Histogram {
  /** Bin edges, increasing; one more than `counts`. */
  edges: number[];
  /** Number of examples per bin (non-negative integers). */
  counts: number[];
}

/** Distribution and mean of one per-example quantity. */
export interface Distribution {
  /** Mean over the evaluated examples. */
  mean: number;
  /** The distribution over the evaluated examples. */
  histogram: Histogram;
}

/** Robustness margin of one set of inputs (clean or adversarial), over all `data.n` examples. */
export interface MarginSide {
  /** Softmax probability of the true class, p_y ∈ [0, 1]. */
  confidence: Distribution;
  /** Logit margin z_y − max_{j≠y} z_j (negative = misclassified). */
  margin: Distribution;
}

/** The robustness margin: how far examples are from the decision boundary, before and after attack. */
export interface MarginResult {
  /** On the clean test inputs. */
  clean: MarginSide;
  /** On the worst-case adversarial inputs (the clean input where no attack ran or none succeeded). */
  adversarial: MarginSide;
  /** Mean clean − mean adversarial, for the confidence and for the logit margin. */
  gap: { confidence: number; margin: number };
}

/**
 * One attack of the ensemble, in the order it ran.
 *
 * @example
 * ```ts
 * const result = await evaluate(clf, subset(test, 200), { threat: parseThreat('linf:0.3'), preset: 'quick' });
 * const rows: AttackRow[] = result.attacks;
 * for (const row of rows) console.log(row.name, row.robust_accuracy);
 * ```
 */
export interface AttackRow {
  /** Attack name as the CLI spells it, e.g. `apgd-ce`, `apgd-t-dlr`, `fab-t`, `square`. */
  name: string;
  /** Hyperparameters as run (steps, restarts, queries, targets, …). */
  params: Record<string, number | string | boolean>;
  /** Cumulative robust accuracy after this attack: worst case over this and all earlier attacks. */
  robust_accuracy: number;
  /** Accuracy under this attack alone, on the points it ran on, when known. */
  attack_accuracy?: number;
  /** Model queries (forward or forward+backward passes) per attacked example, and in total. */
  queries: { median: number; mean: number; total: number };
  /** Wall time of this attack. */
  time_s: number;
  /** Number of examples it ran on (those still robust when it started). */
  attacked: number;
  /**
   * Fraction of the records it returned that are valid in the data set's domain (types,
   * immutables, relations); an invalid record counted as not adversarial. Absent in older files.
   */
  validity_rate?: number;
}

/**
 * One epoch of the model's training log (`metrics.jsonl` next to the model), when it has one.
 * Accuracies are fractions.
 */
export interface TrainingEpoch {
  /** Epoch number, from 1. */
  epoch: number;
  /** Training loss the optimiser minimised (the adversarial loss for adversarial training). */
  loss: number;
  /** Accuracy on clean training batches. */
  clean_accuracy?: number;
  /** Adversarial training loss: loss on the perturbed training batches. */
  adv_loss?: number;
  /** Accuracy on the perturbed training batches. */
  adv_accuracy?: number;
  /** Clean accuracy on the validation split. */
  val_accuracy?: number;
  /** Robust (attacked) accuracy on the validation split. */
  robust_val_accuracy?: number;
  /** Training ε this epoch (for ε schedules). */
  eps?: number;
}

/** One point of the accuracy-vs-ε curve; the clean point has `eps: 0`. */
export interface EpsPoint {
  /** Perturbation budget in the threat model's norm. */
  eps: number;
  /** Robust accuracy at that budget. */
  accuracy: number;
}

/** Sizes of the minimal adversarial perturbations one minimal-norm attack found. */
export interface MinimalNorm {
  /** The norm the sizes are measured in. */
  norm: 'l2' | 'linf';
  /** Median size over the examples where the attack succeeded. */
  median: number;
  /** Mean size over the same examples. */
  mean: number;
  /** Distribution of the sizes. */
  histogram: Histogram;
}

/**
 * Transferability: accuracy of every model on adversarial examples crafted on every model.
 *
 * Orientation: `matrix[i][j]` is the accuracy of **target** model `models[i]` (row, the model
 * evaluated) on examples **crafted on source** model `models[j]` (column). The diagonal is each
 * model's white-box robust accuracy under `attack`.
 */
export interface TransferResult {
  /** Model names (short, for axis labels), in row/column order. */
  models: string[];
  /** `matrix[target][source]` accuracy; square, `models.length` × `models.length`. */
  matrix: number[][];
  /** Threat model of the crafted examples, e.g. `linf:0.3`. */
  threat: string;
  /** Attack used to craft them, e.g. `pgd-50`. */
  attack: string;
}

/** The value of {@link TransferFileResult.schema}. */
export const TRANSFER_SCHEMA = 'advtrain/transfer@1';

/**
 * The result file of `advtrain transfer --json` (schema `advtrain/transfer@1`): the matrix and how it was made.
 *
 * @example
 * ```ts
 * const r = JSON.parse(readFileSync('transfer.json', 'utf8')) as TransferFileResult; // from `advtrain transfer --json`
 * console.log(r.paths, r.n);
 * ```
 */
export interface TransferFileResult extends TransferResult {
  schema: typeof TRANSFER_SCHEMA;
  /** The model directories, in row/column order. */
  paths: string[];
  /** Number of test examples (the first n of the split). */
  n: number;
  seed: number;
  engine: { backend: string; threads?: number };
  versions: Record<string, string>;
  /** When the run finished, ISO 8601. */
  created: string;
}

/** The value of {@link AttackFileResult.schema}. */
export const ATTACK_SCHEMA = 'advtrain/attack@1';

/**
 * The result file of `advtrain attack --json` (schema `advtrain/attack@1`). Fractions, not percentages.
 *
 * @example
 * ```ts
 * const r = JSON.parse(readFileSync('attack.json', 'utf8')) as AttackFileResult; // from `advtrain attack --json attack.json`
 * console.log(r.attack.name, r.robust_accuracy);
 * ```
 */
export interface AttackFileResult {
  schema: typeof ATTACK_SCHEMA;
  model: { path: string; architecture?: string };
  data: { dataset: string; split: 'test'; n: number };
  attack: { name: string; params: Readonly<Record<string, unknown>>; threat: string; targeted: boolean };
  clean_accuracy: number;
  robust_accuracy: number;
  /** Fraction of the attacked examples misclassified after the attack. */
  success_rate: number;
  /** Examples attacked: those the (target) model classifies correctly. */
  attacked: number;
  /** Size of the successful perturbations, in the threat's norm (`spatial`: normalised transform size). */
  distance: { norm: string; median: number | null; mean: number | null; max: number | null };
  /** Queries to the attacked model per attacked example (a transfer attack spends none). */
  queries: { median: number | null; mean: number | null; max: number | null; total: number };
  time_s: number;
  /**
   * Fraction of the attacked examples whose adversarial record is valid in the data set's
   * domain (box, integer grids, one-hot groups, immutables, relations); an invalid record counts
   * as not adversarial. Present on tabular data (a typed domain); absent for transfer attacks.
   */
  validity_rate?: number;
  /** Records that fooled the model but are invalid (not counted as adversarial). */
  invalid_successes?: number;
  /** Features changed per counted adversarial record. */
  features_changed?: { median: number | null; mean: number | null; max: number | null };
  /** Transfer attacks (`--surrogate`): the model the examples were crafted on, and its own figures. Every other figure is the target's. */
  surrogate?: {
    path: string;
    /** Surrogate accuracy on the clean inputs of all n examples. */
    clean_accuracy: number;
    /** Of the attacked examples, those the surrogate already misclassified before the attack. */
    already_misclassified: number;
    /** Fraction of the attacked examples the surrogate misclassifies on the crafted inputs. */
    success_rate: number;
    /** Surrogate queries per attacked example. */
    queries: { median: number | null; mean: number | null; max: number | null; total: number };
    time_s: number;
  };
  seed: number;
  engine: { backend: string; threads?: number };
  versions: Record<string, string>;
  created: string;
}

/** One evaluation-reliability check (gradient-masking sanity check). */
export interface Check {
  /** Short name, e.g. `iterative beats single-step`. */
  name: string;
  /** `pass`, `warn`, `fail` or `not-applicable`. */
  verdict: Verdict;
  /** One sentence saying what was measured and why it passed or failed, or why there was nothing to test. */
  detail: string;
  /**
   * Figures this check vouches for, shown with the warning beside them when it does not pass:
   * `robust_accuracy`, `eps_curve`, `transfer`, `minimal_norms`, or `attack:NAME` for one attack
   * row. Default `['robust_accuracy']`.
   */
  affects?: string[];
}

/** One image as predicted by the model. */
export interface GalleryView {
  /** Predicted class index. */
  prediction: number;
  /** Softmax probability of the predicted class. */
  confidence: number;
  /** The image, base64-encoded PNG (no `data:` prefix). */
  png: string;
}

/** One example of the gallery: the clean input, its worst-case adversarial input and their difference. */
export interface GalleryItem {
  /** Position of the example in the evaluated test split. */
  index: number;
  /** True class index. */
  label: number;
  /**
   * `broken`: an attack changed the prediction; `survived`: every attack failed on it (absent
   * in older files: then it is read from the adversarial prediction).
   */
  outcome?: 'broken' | 'survived';
  /** The clean input. */
  clean: GalleryView;
  /** The adversarial input. */
  adversarial: GalleryView;
  /** x_adv − x, amplified around grey so its largest entry reaches black or white. */
  perturbation: { png: string };
}

/** The data set and the examples evaluated. */
export interface EvalData {
  /** Data set name as given to `--dataset`. */
  dataset: string;
  /** Always the test split. */
  split: 'test';
  /** Number of examples: the first `n` of the split, in the data set's order. */
  n: number;
  /** Class names by index, when the data set has them. */
  classes?: string[];
}

/** Clean and robust accuracy of the evaluated examples of one true class. */
export interface ClassRow {
  /** True class index (its name, when known, is `data.classes[label]`). */
  label: number;
  /** Evaluated examples of this class (at least 1). */
  n: number;
  /** Of those, how many the model classifies correctly on clean inputs. */
  clean_correct: number;
  /** Of those, how many survive every attack (robust ≤ clean_correct). */
  robust: number;
  /** clean_correct / n. */
  clean_accuracy: number;
  /** robust / n. */
  robust_accuracy: number;
}

/**
 * How to reproduce a result: the command line as run (CLI), or a description of the library
 * call. At least one of `argv` and `call` is set.
 */
export interface EvalCommand {
  /** The command line as typed, program name first, e.g. `["advtrain", "eval", "--model", "runs/m"]`. */
  argv?: string[];
  /** Working directory it ran in (relative paths in `argv` are relative to it). */
  cwd?: string;
  /** For library use: the call with the options that decide the figures, e.g. `evaluate(clf, mnist/test first 1000, {…})`. */
  call?: string;
}

/**
 * A result file of schema `advtrain/eval@2`.
 *
 * @example
 * ```ts
 * const result: EvalResultV2 = validateEvalResult(JSON.parse(readFileSync('eval.json', 'utf8')));
 * console.log(result.robust_accuracy);
 * ```
 */
export interface EvalResultV2 {
  /** Always `advtrain/eval@2`. */
  schema: typeof EVAL_SCHEMA;
  /** When the evaluation finished, ISO 8601. */
  created: string;
  /** Versions of the software that produced it. */
  versions: { advtrain: string; tfjs: string; node: string };
  /** TensorFlow.js backend and its thread count. */
  engine: { backend: string; threads?: number };
  /** Seed of every random choice of the evaluation. */
  seed: number;
  /** The model evaluated. */
  model: { path: string; architecture?: string; trained_on?: string };
  /** The examples evaluated. */
  data: EvalData;
  /** Threat model, e.g. `linf:0.3`. */
  threat: string;
  /** Preset of the attack ensemble. */
  preset: Preset;
  /** Accuracy on the clean examples. */
  clean_accuracy: number;
  /** Robust accuracy: share of examples that survive every attack of the ensemble (per-example worst case). */
  robust_accuracy: number;
  /** The attack ensemble, in running order. */
  attacks: AttackRow[];
  /** Clean and robust accuracy per true class, in class order (absent in files written before it was recorded). */
  per_class?: ClassRow[];
  /**
   * Tabular data (a domain with types, immutables or relations): features changed per
   * adversarial record of the worst case, and the share of those records valid in the domain
   * (1 unless an attack is broken: invalid records never count as adversarial).
   */
  tabular?: { validity_rate: number; features_changed: { median: number | null; mean: number | null; max: number | null } };
  /** Robustness margin on clean and adversarial inputs. */
  margin: MarginResult;
  /** Per-epoch training log of the model, when it has one. */
  training?: TrainingEpoch[];
  /** Accuracy against ε, from 0 (the clean point) upward. */
  eps_curve?: EpsPoint[];
  /** Minimal-perturbation sizes per minimal-norm attack, keyed by attack name (`fab`, `deepfool`, `cw-l2`). */
  minimal_norms?: Record<string, MinimalNorm>;
  /** Transfer matrix, when the evaluation ran a transfer study. */
  transfer?: TransferResult;
  /** Evaluation-reliability checks and their verdicts. */
  checks: Check[];
  /** A few examples as images: clean, adversarial, amplified perturbation. */
  gallery: GalleryItem[];
  /** Total wall time of the evaluation. */
  time_s: number;
  /** How to reproduce this result (absent in files written before it was recorded). */
  command?: EvalCommand;
  /** Text evaluations (`--preset text`): the text attacks' own figures and examples. */
  text?: TextEvalSection;
  /** Resume state of an unfinished evaluation; not read by the report. */
  state?: unknown;
}

/** Median, mean and maximum of a per-example quantity (null when there is no example). */
export interface TextStat {
  median: number | null;
  mean: number | null;
  max: number | null;
}

/** One text attack of a text evaluation, on the messages it ran on. */
export interface TextAttackFigures {
  /** Attack name as the CLI spells it (`pwws`, `genetic-text`, `hotflip`, `deepwordbug`, `goodword`). */
  name: string;
  /** Messages it ran on (those every earlier attack failed on). */
  attacked: number;
  /** Verified successes / attacked. */
  success_rate: number;
  /** Share of words changed, over its verified successes. */
  words_changed: TextStat;
  /** Model queries per attacked message (candidate texts scored, plus gradients). */
  queries: TextStat & { total: number };
  seconds_per_message: number;
  /** Successes the attack claimed that the fresh forward pass or the threat's check refused (0 for a sound attack). */
  unverified: number;
}

/** One message of the text report: original and worst-case adversarial version. */
export interface TextExampleView {
  /** Row in the evaluated split. */
  index: number;
  /** True class, and the prediction on the adversarial message, by name. */
  label: string;
  predicted_after: string;
  /** `broken` when some attack fooled the model (verified), else `survived` (the last attempt is shown). */
  outcome: 'broken' | 'survived';
  /** The attack that produced the adversarial message. */
  attack: string;
  original: string;
  adversarial: string;
  /** Word edits, original → adversarial. */
  changed_words: { from: string; to: string }[];
  /** Share of the original's words changed. */
  share: number;
  /** Queries spent on it, over every attack that ran on it. */
  queries: number;
}

/**
 * The text part of an `advtrain/eval@2` file (`--preset text`): per-message worst case over the
 * text attacks, on the correctly classified messages of the attacked classes (the spam a filter
 * catches). `robust_accuracy` of the file counts every evaluated message; these figures count
 * only the attacked ones.
 */
export interface TextEvalSection {
  /** Classes attacked, by name (default `spam`). */
  attacked_classes: string[];
  /** Messages attacked: correctly classified, of an attacked class. */
  attacked: number;
  /** Share of the attacked messages some attack fooled (verified): the worst case over the ensemble. */
  success_rate: number;
  /** Share of words changed in the worst-case adversarial messages. */
  words_changed: TextStat;
  /** Queries per attacked message, summed over the attacks that ran on it. */
  queries_per_example: TextStat & { total: number };
  /** Each attack's own figures, in running order. */
  attacks: TextAttackFigures[];
  /** A few broken and surviving messages for the report. */
  examples: TextExampleView[];
}
