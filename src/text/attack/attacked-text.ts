import type { Token } from '../tokenizer.js';
import type { TextThreat } from '../../threat/text-threat.js';

/**
 * The message under attack, tokenized once: what every candidate of the search shares.
 *
 * @example
 * ```ts
 * const base = attackBase('Cheap meds at http://x.biz', clf.tokenizer, threat);
 * base.editable; // token indices of 'Cheap' and 'meds'
 * ```
 */
export interface AttackBase {
  readonly original: string;
  readonly tokens: readonly Token[];
  /** Token indices of the words (tokens of kind `word`). */
  readonly words: readonly number[];
  /**
   * Token indices of the words an attack may edit: not stop words (never URLs, e-mail addresses,
   * numbers), and, when the model's window is known, words it reads (not cut off by truncation).
   */
  readonly editable: readonly number[];
  /** Largest number of word edits the threat allows in this message. */
  readonly maxChanges: number;
}

/**
 * Tokenizes a message for attack. `visible` gives each token's position in the model's input
 * (−1 for tokens it does not read); words it does not read are not edited.
 *
 * @example
 * ```ts
 * const start = new AttackedText(attackBase(spam, clf.tokenizer, threat));
 * ```
 */
export function attackBase(original: string, tokenizer: { tokenize(t: string): Token[] }, threat: TextThreat, visible?: (tokens: readonly Token[]) => ArrayLike<number>): AttackBase {
  const tokens = tokenizer.tokenize(original);
  const pos = visible?.(tokens);
  const words: number[] = [];
  const editable: number[] = [];
  tokens.forEach((t, i) => {
    if (t.kind !== 'word') return;
    words.push(i);
    if (threat.editable(t) && (!pos || pos[i]! >= 0)) editable.push(i);
  });
  return { original, tokens, words, editable, maxChanges: threat.maxChanges(Math.max(1, words.length)) };
}

/**
 * One candidate text: the original's tokens with some words replaced and some words inserted.
 * Immutable; every edit returns a new candidate sharing the base. Rendering is lazy and cached.
 *
 * @example
 * ```ts
 * const t = new AttackedText(base).replace(base.editable[0]!, 'Inexpensive');
 * console.log(t.text, t.changes); // 'Inexpensive meds at http://x.biz' 1
 * ```
 */
export class AttackedText {
  private rendered?: string;
  constructor(
    readonly base: AttackBase,
    /** Token index → its new text. */
    readonly replaced: ReadonlyMap<number, string> = new Map(),
    /** Token index → words inserted before it (each followed by a space). */
    readonly inserted: ReadonlyMap<number, readonly string[]> = new Map(),
    /** The token index this candidate's last edit touched (−1 for the original). */
    readonly lastSlot = -1,
  ) {}

  /** Number of word edits: replaced words plus inserted words. */
  get changes(): number {
    let n = this.replaced.size;
    for (const ws of this.inserted.values()) n += ws.length;
    return n;
  }

  /** The current text of token `i`. */
  wordAt(i: number): string {
    return this.replaced.get(i) ?? this.base.tokens[i]!.text;
  }

  /** A copy with token `i` replaced by `word` (replacing it by the original text undoes the edit). */
  replace(i: number, word: string): AttackedText {
    const r = new Map(this.replaced);
    if (word === this.base.tokens[i]!.text) r.delete(i);
    else r.set(i, word);
    return new AttackedText(this.base, r, this.inserted, i);
  }

  /** A copy with `word` inserted before token `i`. */
  insert(i: number, word: string): AttackedText {
    const ins = new Map(this.inserted);
    ins.set(i, [...(ins.get(i) ?? []), word]);
    return new AttackedText(this.base, this.replaced, ins, i);
  }

  /** The candidate's text. */
  get text(): string {
    if (this.rendered === undefined) {
      if (this.replaced.size === 0 && this.inserted.size === 0) this.rendered = this.base.original;
      else {
        const parts: string[] = [];
        this.base.tokens.forEach((t, i) => {
          const ins = this.inserted.get(i);
          if (ins) for (const w of ins) parts.push(w, ' ');
          parts.push(this.replaced.get(i) ?? t.text);
        });
        this.rendered = parts.join('');
      }
    }
    return this.rendered;
  }
}
