import { AttackedText } from './attacked-text.js';
import type { Scored } from './goal.js';
import { allowed, bestOf, type AttackContext, type SearchMethod } from './parts.js';

/**
 * The settings of {@link geneticSearch}.
 *
 * @example
 * ```ts
 * const opts: GeneticOptions = { population: 20, generations: 10, temperature: 0.3 };
 * ```
 */
export interface GeneticOptions {
  /** Members per generation (Alzantot et al.: 60; default 20). */
  population?: number;
  /** Largest number of generations (default 10). */
  generations?: number;
  /** Temperature of the fitness softmax that picks parents (default 0.3). */
  temperature?: number;
}

/**
 * Perturbs every member at once (Alzantot's Perturb): one random editable word per member, all
 * members' candidates scored in one batch, each member moving to its best candidate.
 */
function perturbAll(members: readonly Scored[], ctx: AttackContext): Scored[] {
  const sets = members.map((m) => {
    const t = m.text;
    // Words with candidates that keep the member inside the constraints; tried in a random order.
    const slots = [...t.base.editable];
    for (let tries = 0; tries < 8 && slots.length > 0; tries++) {
      const k = ctx.rng.int(slots.length);
      const slot = slots[k]!;
      slots.splice(k, 1);
      const cands = allowed(ctx, ctx.transformation.transform(t, ctx, [slot]));
      if (cands.length > 0) return cands;
    }
    return [];
  });
  const scored = ctx.goal.score(sets.flat());
  let at = 0;
  const out = members.map((m, k) => {
    const mine = scored.slice(at, (at += sets[k]!.length));
    const best = bestOf(mine);
    return best && Number.isFinite(best.score) ? best : m;
  });
  // Members left as they were but never scored (children that found no candidate): one batch.
  const unscored = out.flatMap((m, k) => (Number.isFinite(m.score) ? [] : [k]));
  if (unscored.length > 0) ctx.goal.score(unscored.map((k) => out[k]!.text)).forEach((s, j) => (out[unscored[j]!] = s));
  return out;
}

/** A child taking each edited word from one parent or the other, at random. */
function crossover(a: AttackedText, b: AttackedText, ctx: AttackContext): AttackedText {
  const slots = new Set([...a.replaced.keys(), ...b.replaced.keys()]);
  const replaced = new Map<number, string>();
  for (const i of slots) {
    const from = ctx.rng.next() < 0.5 ? a : b;
    const w = from.replaced.get(i);
    if (w !== undefined) replaced.set(i, w);
  }
  return new AttackedText(a.base, replaced, ctx.rng.next() < 0.5 ? a.inserted : b.inserted);
}

/**
 * Alzantot et al.'s genetic search (2018) over the transformation's word edits: a population of
 * perturbed copies; each generation keeps the fittest (elite), breeds the rest by crossover of
 * parents drawn with probability softmax(fitness / temperature), and perturbs every child — all
 * children's candidates scored in one batch per generation. Stops at the goal, after
 * `generations`, or at the query budget.
 *
 * @example
 * ```ts
 * const attack = new TextAttack('my-genetic', { transformation: wordNetSwap(), search: geneticSearch({ population: 30 }) });
 * ```
 */
export function geneticSearch(opts: GeneticOptions = {}): SearchMethod {
  const size = opts.population ?? 20;
  const generations = opts.generations ?? 10;
  const temperature = opts.temperature ?? 0.3;
  return {
    name: 'genetic',
    search(start, ctx) {
      let pop = perturbAll(Array.from({ length: size }, () => start), ctx);
      let best = bestOf([start, ...pop])!;
      for (let g = 0; g < generations && !best.success && !ctx.goal.exhausted; g++) {
        const elite = bestOf(pop)!;
        const top = elite.score;
        const w = pop.map((m) => Math.exp((m.score - top) / temperature));
        const total = w.reduce((a, b) => a + b, 0);
        const pick = (): Scored => {
          let r = ctx.rng.next() * total;
          for (let k = 0; k < pop.length; k++) if ((r -= w[k]!) <= 0) return pop[k]!;
          return pop[pop.length - 1]!;
        };
        const children = Array.from({ length: size - 1 }, (): Scored => {
          const p1 = pick();
          const child = crossover(p1.text, pick().text, ctx);
          // A child over the budget falls back to its first parent.
          return allowed(ctx, [child]).length === 1 ? { ...p1, text: child, score: -Infinity } : p1;
        });
        pop = [elite, ...perturbAll(children, ctx)];
        const gen = bestOf(pop)!;
        if (gen.score > best.score) best = gen;
      }
      return best;
    },
  };
}
