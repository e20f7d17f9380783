import type { AttackedText } from './attacked-text.js';
import type { Scored } from './goal.js';
import { allowed, bestOf, type AttackContext, type SearchMethod } from './parts.js';

/** How a greedy search ranks words: by the score gained when the word is deleted, or replaced by the unknown word. */
export type WordRanking = 'delete' | 'unk';

/** Importance of each editable word: the attacker's score gain when it is removed (one batch). */
function importance(start: Scored, ctx: AttackContext, ranking: WordRanking): { slot: number; gain: number }[] {
  const slots = start.text.base.editable;
  const probes = slots.map((i) => start.text.replace(i, ranking === 'delete' ? '' : ctx.placeholder));
  const scored = ctx.goal.score(probes);
  return slots.map((slot, k) => ({ slot, gain: scored[k]!.score - start.score }));
}

/**
 * Greedy search by word importance (TextAttack's GreedyWordSwapWIR): ranks the editable words
 * once by how much removing each helps the attacker (one batch of probes), then edits them in
 * that order, scoring all of a word's candidates in one batch and keeping the best when it
 * helps, until the goal is reached or the budget or the words run out.
 *
 * @example
 * ```ts
 * const search = greedyWordImportance({ ranking: 'delete' });
 * ```
 */
export function greedyWordImportance(opts: { ranking?: WordRanking } = {}): SearchMethod {
  const ranking = opts.ranking ?? 'delete';
  return {
    name: `greedy-wir-${ranking}`,
    search(start, ctx) {
      const order = importance(start, ctx, ranking).sort((a, b) => b.gain - a.gain);
      let cur = start;
      for (const { slot } of order) {
        if (ctx.goal.exhausted || cur.text.changes >= cur.text.base.maxChanges) break;
        const best = bestOf(ctx.goal.score(allowed(ctx, ctx.transformation.transform(cur.text, ctx, [slot]))));
        if (best && best.score > cur.score) {
          cur = best;
          if (cur.success) break;
        }
      }
      return cur;
    },
  };
}

/**
 * PWWS's search (Ren et al. 2019, probability weighted word saliency): for every editable word,
 * the best substitute w*ᵢ and its score gain Δp*ᵢ, and the word's saliency Sᵢ (gain when
 * replaced by the unknown word) — all candidates of all words scored together in batches —
 * then the words in the order of softmax(S)ᵢ·Δp*ᵢ, each replaced by its w*ᵢ, until the goal is
 * reached.
 *
 * @example
 * ```ts
 * const attack = new TextAttack('my-pwws', { transformation: wordNetSwap(), search: pwwsSearch() });
 * ```
 */
export function pwwsSearch(): SearchMethod {
  return {
    name: 'pwws',
    search(start, ctx) {
      const t0 = start.text;
      const perSlot = t0.base.editable.map((slot) => ({ slot, cands: allowed(ctx, ctx.transformation.transform(t0, ctx, [slot])) })).filter((s) => s.cands.length > 0);
      if (perSlot.length === 0) return start;
      const probes = perSlot.map(({ slot }) => t0.replace(slot, ctx.placeholder));
      const scored = ctx.goal.score([...probes, ...perSlot.flatMap((s) => s.cands)]);
      let at = probes.length;
      const rows = perSlot.map(({ slot, cands }, k) => {
        const best = bestOf(scored.slice(at, at + cands.length))!;
        at += cands.length;
        return { slot, word: best.text.wordAt(slot), gain: best.score - start.score, saliency: scored[k]!.score - start.score };
      });
      const finite = rows.filter((r) => Number.isFinite(r.gain) && Number.isFinite(r.saliency));
      const top = Math.max(...finite.map((r) => r.saliency));
      const z = finite.reduce((s, r) => s + Math.exp(r.saliency - top), 0);
      const order = finite.map((r) => ({ ...r, h: (Math.exp(r.saliency - top) / z) * r.gain })).sort((a, b) => b.h - a.h);
      let cur = start;
      for (const r of order) {
        if (ctx.goal.exhausted) break;
        const next = allowed(ctx, [cur.text.replace(r.slot, r.word)]);
        if (next.length === 0) continue;
        const s = ctx.goal.score(next)[0]!;
        if (s.score > cur.score) {
          cur = s;
          if (cur.success) break;
        }
      }
      return cur;
    },
  };
}

/**
 * Beam search (TextAttack's BeamSearch; width 1 is its GreedySearch): each step proposes the
 * transformation's candidates for every beam member (all slots), scores them all in batches and
 * keeps the `width` best, until the goal is reached, nothing improves, or the budget runs out.
 *
 * @example
 * ```ts
 * const search = beamSearch({ width: 4 });
 * ```
 */
export function beamSearch(opts: { width?: number } = {}): SearchMethod {
  const width = opts.width ?? 1;
  return {
    name: width === 1 ? 'greedy' : `beam-${width}`,
    search(start, ctx) {
      let beam: Scored[] = [start];
      let best = start;
      while (!ctx.goal.exhausted) {
        const seen = new Set<string>();
        const cands: AttackedText[] = [];
        for (const b of beam) {
          for (const c of allowed(ctx, ctx.transformation.transform(b.text, ctx))) {
            if (!seen.has(c.text)) {
              seen.add(c.text);
              cands.push(c);
            }
          }
        }
        if (cands.length === 0) break;
        const scored = ctx.goal.score(cands).filter((s) => Number.isFinite(s.score)).sort((a, b) => b.score - a.score);
        if (scored.length === 0 || scored[0]!.score <= best.score) break;
        best = scored[0]!;
        if (best.success) break;
        beam = scored.slice(0, width);
      }
      return best;
    },
  };
}
