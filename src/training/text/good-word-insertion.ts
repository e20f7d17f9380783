import { Rng } from '../../data/rng.js';

/**
 * Options of {@link insertGoodWords}.
 *
 * @example
 * ```ts
 * const o: GoodWordInsertionOptions = { maxWords: 10, maxShare: 0.1, seed: 3 };
 * ```
 */
export interface GoodWordInsertionOptions {
  /** Most words inserted per text. */
  maxWords: number;
  /** The word budget: at most ⌊maxShare · words⌋ insertions per text (the text threat's rule). */
  maxShare: number;
  /** Seeds the draw of words from each text's list. */
  seed: number;
}

/**
 * Lowd & Meek's good-word insertion on token ids, for training: each row (`L` ids, padding 0
 * at the end) gets min(maxWords, ⌊maxShare · words⌋) distinct ids drawn from `goodIds(label)`
 * (the words the model, alone, takes most as evidence against that row's label) inserted at
 * the front, its tail pushed past `L` and dropped — what the model reads when the goodword
 * attack inserts them at the start of the raw message. `isWord[id]` says which ids count as
 * words for the budget. Returns new ids, same shape; the input is not changed.
 *
 * @example
 * ```ts
 * const adv = insertGoodWords(ids, labels, 300, table.isWord, (y) => good[y]!, { maxWords: 10, maxShare: 0.1, seed: 0 });
 * ```
 */
export function insertGoodWords(
  ids: ArrayLike<number>,
  labels: ArrayLike<number>,
  L: number,
  isWord: ArrayLike<number>,
  goodIds: (label: number) => readonly number[],
  o: GoodWordInsertionOptions,
): Float32Array {
  const b = labels.length;
  if (ids.length !== b * L) throw new Error(`good-word insertion: ${ids.length} ids for ${b} rows of ${L}`);
  const out = new Float32Array(b * L);
  const rng = new Rng(o.seed);
  for (let r = 0; r < b; r++) {
    const row = r * L;
    let words = 0;
    for (let j = 0; j < L; j++) if (isWord[ids[row + j]!]) words++;
    const list = goodIds(labels[r]!);
    const n = Math.min(o.maxWords, Math.floor(o.maxShare * words + 1e-9), list.length);
    const pool = Array.from(list);
    for (let j = 0; j < n; j++) {
      const k = j + rng.int(pool.length - j);
      [pool[j], pool[k]] = [pool[k]!, pool[j]!];
      out[row + j] = pool[j]!;
    }
    for (let j = n; j < L; j++) out[row + j] = ids[row + j - n]!;
  }
  return out;
}
