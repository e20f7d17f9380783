import { UserError } from '../errors.js';

/**
 * The serialisable state of an {@link Rng}: four 32-bit words of xoshiro128**.
 * Store it in a checkpoint (it is plain JSON) and pass it to {@link Rng.fromState} to resume.
 */
export interface RngState {
  algorithm: 'xoshiro128**';
  s: [number, number, number, number];
}

/** Anything indexable and writable: plain arrays and typed arrays. */
export interface MutableArrayLike<T> {
  length: number;
  [index: number]: T;
}

const TWO_32 = 4294967296;

/** SplitMix32 step, used only to expand a seed into the four state words. */
function splitmix32(x: number): [number, number] {
  const next = (x + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return [next, z >>> 0];
}

/**
 * A small, fast, seeded pseudo-random generator (xoshiro128**, seeded through SplitMix32).
 * Same seed, same numbers, on every platform. Not for cryptography.
 *
 * @example
 * ```ts
 * const rng = new Rng(42);
 * const u = rng.next();           // in [0, 1)
 * const k = rng.int(10);          // in {0, …, 9}
 * rng.shuffle([1, 2, 3, 4]);      // in place
 * const saved = rng.state();      // JSON-able; Rng.fromState(saved) resumes the stream
 * ```
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** @param seed any safe integer (negative and above 2^32 allowed); default 0. */
  constructor(seed = 0) {
    if (!Number.isSafeInteger(seed)) {
      throw new UserError(`seed must be an integer (got ${String(seed)}); pass e.g. --seed 0`);
    }
    // Mix the low and high 32 bits so that seeds above 2^32 still give distinct streams.
    const lo = seed >>> 0;
    const hi = Math.floor(seed / TWO_32) | 0;
    let x = lo ^ Math.imul(hi, 0x27d4eb2f);
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [nx, z] = splitmix32(x);
      x = nx;
      words.push(z);
    }
    this.s0 = words[0]!;
    this.s1 = words[1]!;
    this.s2 = words[2]!;
    this.s3 = words[3]!;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /**
   * Rebuilds a generator from {@link Rng.state}; it continues exactly where the saved one was.
   *
   * @example
   * ```ts
   * const a = new Rng(1); a.next();
   * const b = Rng.fromState(a.state());
   * a.next() === b.next(); // true
   * ```
   */
  static fromState(state: RngState): Rng {
    const ok =
      state !== null &&
      typeof state === 'object' &&
      state.algorithm === 'xoshiro128**' &&
      Array.isArray(state.s) &&
      state.s.length === 4 &&
      state.s.every((w) => Number.isInteger(w) && w >= 0 && w < TWO_32) &&
      state.s.some((w) => w !== 0);
    if (!ok) {
      throw new UserError(
        `invalid RNG state ${JSON.stringify(state)}: expected {"algorithm":"xoshiro128**","s":[four non-zero-in-total uint32]}; the checkpoint may be corrupt`,
      );
    }
    const r = new Rng(0);
    [r.s0, r.s1, r.s2, r.s3] = state.s;
    return r;
  }

  /**
   * The current state, to save in a checkpoint.
   *
   * @example
   * ```ts
   * fs.writeFileSync('rng.json', JSON.stringify(rng.state()));
   * ```
   */
  state(): RngState {
    return { algorithm: 'xoshiro128**', s: [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0] };
  }

  /**
   * The next 32-bit unsigned integer.
   *
   * @example
   * ```ts
   * new Rng(3).nextUint32(); // an integer in [0, 2^32)
   * ```
   */
  nextUint32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result >>> 0;
  }

  /**
   * A uniform float in [0, 1) (32 bits of randomness).
   *
   * @example
   * ```ts
   * const u = new Rng(0).next(); // 0 <= u < 1
   * ```
   */
  next(): number {
    return this.nextUint32() / TWO_32;
  }

  /**
   * A uniform integer in [0, n), without modulo bias. `n` must be a positive integer ≤ 2^32.
   *
   * @example
   * ```ts
   * const die = new Rng(7).int(6) + 1;
   * ```
   */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_32) {
      throw new UserError(`Rng.int(n) needs an integer n in [1, 2^32] (got ${n})`);
    }
    // Rejection sampling: accept only draws below the largest multiple of n.
    const limit = TWO_32 - (TWO_32 % n);
    for (;;) {
      const u = this.nextUint32();
      if (u < limit) return u % n;
    }
  }

  /**
   * Shuffles `a` in place (Fisher–Yates) and returns it. Works on arrays and typed arrays.
   *
   * @example
   * ```ts
   * const order = new Rng(0).shuffle(Int32Array.from([0, 1, 2, 3]));
   * ```
   */
  shuffle<A extends MutableArrayLike<unknown>>(a: A): A {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** One avalanche step (murmur3's finaliser) over a 32-bit word. */
function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The 32-bit words of a path element: a safe integer as its low and high words, a string by its UTF-16 units. */
function wordsOf(p: number | string): number[] {
  if (typeof p === 'string') return [0x5bd1e995, p.length, ...Array.from(p, (c) => c.charCodeAt(0))];
  if (!Number.isSafeInteger(p)) throw new UserError(`a seed path element must be an integer or a name (got ${String(p)})`);
  return [p >>> 0, Math.floor(p / TWO_32) | 0];
}

/**
 * The seed of one named random stream below `seed`: every random draw of the project derives
 * its seed here, from the run's seed and the path that names the draw (a purpose, a restart, an
 * example index, …), so that distinct paths give independent streams and no two draws share a
 * seed by arithmetic accident. The result is a non-negative safe integer (53 bits), usable by
 * {@link Rng} and as a tfjs op seed.
 *
 * @example
 * ```ts
 * const restartSeed = deriveSeed(0, 'pgd-start', 1); // the same seed and path always give the same number
 * ```
 */
export function deriveSeed(seed: number, ...path: (number | string)[]): number {
  let a = 0x9e3779b9;
  let b = 0x7f4a7c15;
  for (const w of [...wordsOf(seed), path.length, ...path.flatMap(wordsOf)]) {
    a = mix32((a ^ w) + 0x6a09e667);
    b = mix32((b + Math.imul(w, 0x27d4eb2f)) ^ a);
  }
  return (a >>> 0) * 2 ** 21 + (b >>> 11);
}
