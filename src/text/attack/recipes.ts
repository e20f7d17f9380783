import { UserError } from '../../errors.js';
import { probeGoodWords } from './good-words.js';
import { geneticSearch } from './genetic.js';
import { gradientSynonymSwap } from './gradient-swap.js';
import { beamSearch, greedyWordImportance, pwwsSearch } from './search.js';
import { TextAttack } from './text-attack.js';
import { charEdits, goodWordInsertion, wordNetSwap } from './transformations.js';

type Params = Record<string, number>;

interface TextRecipe {
  summary: string;
  /** Defaults of every hyperparameter (what `--params` may set). */
  defaults: Params;
  build(p: Params): TextAttack;
}

const num = (p: Params, k: string): number => p[k]!;

const RECIPES = new Map<string, TextRecipe>([
  [
    'pwws',
    {
      summary: 'WordNet synonyms ordered by probability-weighted word saliency (Ren et al. 2019)',
      defaults: { maxQueries: 5000, maxCandidates: 30 },
      build: (p) => new TextAttack('pwws', { transformation: wordNetSwap({ maxCandidates: num(p, 'maxCandidates') }), search: pwwsSearch(), maxQueries: num(p, 'maxQueries') }, p),
    },
  ],
  [
    'genetic-text',
    {
      summary: "population search over WordNet synonym swaps (Alzantot et al. 2018)",
      defaults: { maxQueries: 5000, maxCandidates: 8, population: 20, generations: 10, temperature: 0.3 },
      build: (p) =>
        new TextAttack(
          'genetic-text',
          {
            transformation: wordNetSwap({ maxCandidates: num(p, 'maxCandidates') }),
            search: geneticSearch({ population: num(p, 'population'), generations: num(p, 'generations'), temperature: num(p, 'temperature') }),
            maxQueries: num(p, 'maxQueries'),
          },
          p,
        ),
    },
  ],
  [
    'hotflip',
    {
      summary: 'gradient-ranked synonym substitution in embedding space, beam search (Ebrahimi et al. 2018)',
      defaults: { maxQueries: 5000, topN: 16, width: 2, maxCandidates: 30 },
      build: (p) =>
        new TextAttack(
          'hotflip',
          { transformation: gradientSynonymSwap({ topN: num(p, 'topN'), maxCandidates: num(p, 'maxCandidates') }), search: beamSearch({ width: num(p, 'width') }), maxQueries: num(p, 'maxQueries') },
          p,
        ),
    },
  ],
  [
    'deepwordbug',
    {
      summary: 'character edits (swap, delete, insert, substitute, homoglyph) on the most important words (Gao et al. 2018)',
      defaults: { maxQueries: 5000, perWord: 5 },
      build: (p) => new TextAttack('deepwordbug', { transformation: charEdits({ perWord: num(p, 'perWord') }), search: greedyWordImportance({ ranking: 'delete' }), maxQueries: num(p, 'maxQueries') }, p),
    },
  ],
  [
    'goodword',
    {
      summary: "good-word insertion, the classic attack on spam filters (Lowd & Meek 2005)",
      defaults: { maxQueries: 5000, vocabulary: 5000, keep: 40 },
      build: (p) =>
        new TextAttack(
          'goodword',
          {
            transformation: goodWordInsertion((ctx) => probeGoodWords(ctx.clf, ctx.goal.spec.label, ctx.goal.spec.target, { vocabulary: num(p, 'vocabulary'), keep: num(p, 'keep') }).words),
            search: beamSearch({ width: 1 }),
            maxQueries: num(p, 'maxQueries'),
          },
          p,
        ),
    },
  ],
]);

/**
 * Names of the built-in text attacks.
 *
 * @example
 * ```ts
 * textAttackNames(); // ['pwws', 'genetic-text', 'hotflip', 'deepwordbug', 'goodword']
 * ```
 */
export function textAttackNames(): string[] {
  return [...RECIPES.keys()];
}

/** True when `name` is a built-in text attack. */
export function isTextAttack(name: string): boolean {
  return RECIPES.has(name);
}

/** One line per text attack, for --help. */
export function textAttackHelp(): string {
  return [...RECIPES.entries()].map(([n, r]) => `  ${n.padEnd(12)} ${r.summary} [text; words:SHARE]`).join('\n');
}

/**
 * Builds a built-in text attack with its defaults, overridden by `params` (numbers; unknown keys
 * refused in one line naming the valid ones).
 *
 * @example
 * ```ts
 * const pwws = createTextAttack('pwws', { maxQueries: 2000 });
 * const textClf = await loadTextClassifier('runs/text-cnn');
 * const out = pwws.attack(textClf, 'Win a FREE prize now', 1, { threat: textThreat(textClf.tokenizer), seed: 0, index: 0 });
 * ```
 */
export function createTextAttack(name: string, params: Record<string, unknown> = {}): TextAttack {
  const r = RECIPES.get(name);
  if (!r) throw new UserError(`unknown text attack '${name}': choose one of ${textAttackNames().join(', ')}`);
  const p: Params = { ...r.defaults };
  for (const [k, v] of Object.entries(params)) {
    if (!(k in r.defaults)) throw new UserError(`text attack ${name} has no parameter '${k}': its parameters are ${Object.keys(r.defaults).join(', ')}`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new UserError(`text attack ${name}: parameter '${k}' must be a positive number (got ${JSON.stringify(v)})`);
    p[k] = v;
  }
  return r.build(p);
}
