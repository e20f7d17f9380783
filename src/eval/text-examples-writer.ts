import { writeFileAtomic } from '../fsutil.js';
import type { TextExample } from './text-attack-run.js';

/**
 * Writes attacked messages as JSON lines, one per message, in row order: `{index, original,
 * adversarial, label, predicted_before, predicted_after, changed_words, queries}` plus
 * `success`, `share` and `attack`. Labels and predictions are class names; `predicted_after`
 * comes from the fresh forward pass that verified the result, so `advtrain predict` on the
 * adversarial texts must agree with it. The file appears whole or not at all.
 *
 * @example
 * ```ts
 * writeTextExamples('runs/pwws.jsonl', result.examples);
 * ```
 */
export function writeTextExamples(path: string, examples: readonly TextExample[]): void {
  const lines = examples.map((x) =>
    JSON.stringify({
      index: x.index,
      original: x.original,
      adversarial: x.adversarial,
      label: x.label,
      predicted_before: x.predicted_before,
      predicted_after: x.predicted_after,
      changed_words: x.changed_words,
      queries: x.queries,
      success: x.success,
      share: x.share,
      attack: x.attack,
    }),
  );
  writeFileAtomic(path, lines.length ? lines.join('\n') + '\n' : '');
}
