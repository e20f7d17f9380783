import { deriveSeed, Rng } from '../../data/rng.js';
import type { AttackedText } from './attacked-text.js';
import type { AttackContext, Transformation } from './parts.js';
import { wordNet } from './wordnet.js';

/** Gives `word` the capitalisation of `like` (all caps, initial capital, or as is). */
export function matchCase(word: string, like: string): string {
  if (like.length > 1 && like === like.toUpperCase() && like !== like.toLowerCase()) return word.toUpperCase();
  if (like[0] && like[0] !== like[0].toLowerCase()) return word[0]!.toUpperCase() + word.slice(1);
  return word;
}

function slotsOf(t: AttackedText, slots?: readonly number[]): readonly number[] {
  return slots ?? t.base.editable;
}

/**
 * Swaps a word for one of its WordNet synonyms (same capitalisation), PWWS's and Alzantot's
 * transformation. The synonyms are those of the original word, also after an earlier swap.
 *
 * @example
 * ```ts
 * const swap = wordNetSwap({ maxCandidates: 30 });
 * ```
 */
export function wordNetSwap(opts: { maxCandidates?: number } = {}): Transformation {
  const max = opts.maxCandidates ?? 30;
  return {
    name: 'wordnet-swap',
    transform(t, _ctx, slots) {
      const out: AttackedText[] = [];
      for (const i of slotsOf(t, slots)) {
        const orig = t.base.tokens[i]!.text;
        const now = t.wordAt(i);
        for (const s of wordNet().synonyms(orig).slice(0, max)) {
          const w = matchCase(s, orig);
          if (w !== now) out.push(t.replace(i, w));
        }
      }
      return out;
    },
  };
}

/**
 * Character edits of DeepWordBug (Gao et al. 2018), plus look-alike letters.
 *
 * @example
 * ```ts
 * const edits: CharEdit[] = ['swap', 'homoglyph'];
 * const bugs = charEdits({ edits, perWord: 4 });
 * ```
 */
export type CharEdit = 'swap' | 'delete' | 'insert' | 'substitute' | 'homoglyph';

/** Latin letters and their Cyrillic / Greek look-alikes (visually the same word, another token). */
const HOMOGLYPHS: Record<string, string> = {
  a: 'а', c: 'с', e: 'е', i: 'і', o: 'о', p: 'р', s: 'ѕ', x: 'х', y: 'у', j: 'ј',
  A: 'А', B: 'В', C: 'С', E: 'Е', H: 'Н', I: 'І', K: 'К', M: 'М', O: 'О', P: 'Р', T: 'Т', X: 'Х', Y: 'Υ',
};
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

/** One random edit of `kind` on `word`, or undefined when it cannot apply. */
function charEdit(word: string, kind: CharEdit, rng: Rng): string | undefined {
  const chars = [...word];
  const letters = chars.map((c, k) => (/\p{L}/u.test(c) ? k : -1)).filter((k) => k >= 0);
  if (letters.length === 0) return undefined;
  const at = letters[rng.int(letters.length)]!;
  const sameCase = (c: string) => (chars[at]! === chars[at]!.toUpperCase() ? c.toUpperCase() : c);
  switch (kind) {
    case 'swap': {
      const pairs = letters.filter((k) => letters.includes(k + 1) && chars[k] !== chars[k + 1]);
      if (pairs.length === 0) return undefined;
      const k = pairs[rng.int(pairs.length)]!;
      [chars[k], chars[k + 1]] = [chars[k + 1]!, chars[k]!];
      break;
    }
    case 'delete':
      if (letters.length < 2) return undefined;
      chars.splice(at, 1);
      break;
    case 'insert':
      chars.splice(at, 0, sameCase(LETTERS[rng.int(26)]!));
      break;
    case 'substitute': {
      let c = LETTERS[rng.int(26)]!;
      if (c === chars[at]!.toLowerCase()) c = LETTERS[(LETTERS.indexOf(c) + 1) % 26]!;
      chars[at] = sameCase(c);
      break;
    }
    case 'homoglyph': {
      const cands = letters.filter((k) => HOMOGLYPHS[chars[k]!]);
      if (cands.length === 0) return undefined;
      const k = cands[rng.int(cands.length)]!;
      chars[k] = HOMOGLYPHS[chars[k]!]!;
      break;
    }
  }
  const out = chars.join('');
  return out === word ? undefined : out;
}

/**
 * DeepWordBug's character edits on one word: `perWord` distinct edits drawn in turn from
 * `edits` (swap two neighbouring letters, delete, insert or substitute a letter, replace a
 * letter by a look-alike). The draws derive from (seed, message index, slot), so a message's
 * candidates do not depend on the batch it is attacked in.
 *
 * @example
 * ```ts
 * const bugs = charEdits({ edits: ['swap', 'homoglyph'], perWord: 4 });
 * ```
 */
export function charEdits(opts: { edits?: readonly CharEdit[]; perWord?: number } = {}): Transformation {
  const edits = opts.edits ?? (['swap', 'delete', 'insert', 'substitute', 'homoglyph'] as const);
  const perWord = opts.perWord ?? 5;
  return {
    name: 'char-edits',
    transform(t, ctx: AttackContext, slots) {
      const out: AttackedText[] = [];
      for (const i of slotsOf(t, slots)) {
        const orig = t.base.tokens[i]!.text;
        const rng = new Rng(deriveSeed(ctx.seed, 'char-edits', ctx.index, i));
        const seen = new Set<string>([t.wordAt(i)]);
        for (let k = 0; k < perWord * 3 && seen.size <= perWord; k++) {
          const w = charEdit(orig, edits[k % edits.length]!, rng);
          if (w !== undefined && !seen.has(w)) {
            seen.add(w);
            out.push(t.replace(i, w));
          }
        }
      }
      return out;
    },
  };
}

/**
 * Good-word insertion (Lowd & Meek 2005): inserts one of `words` — words the model takes as
 * evidence against the attacked class — at the start of the message. Slots are ignored.
 *
 * @example
 * ```ts
 * const insert = goodWordInsertion(['meeting', 'thanks', 'attached']);
 * ```
 */
export function goodWordInsertion(words: readonly string[] | ((ctx: AttackContext) => readonly string[])): Transformation {
  return {
    name: 'good-word-insertion',
    transform(t, ctx) {
      const list = typeof words === 'function' ? words(ctx) : words;
      const used = new Set(t.inserted.get(0) ?? []);
      return list.filter((w) => !used.has(w)).map((w) => t.insert(0, w));
    },
  };
}
