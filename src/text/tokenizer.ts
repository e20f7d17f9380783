/**
 * What a token is: a word, a URL, an e-mail address, a number, one punctuation mark or a run of
 * white space.
 *
 * @example
 * ```ts
 * const kinds: TokenKind[] = defaultTokenizer().tokenize('Mail me@x.org').map((t) => t.kind); // word space email
 * ```
 */
export type TokenKind = 'word' | 'url' | 'email' | 'number' | 'punct' | 'space';

/**
 * One piece of a text, with its kind.
 *
 * @example
 * ```ts
 * const t: Token = { text: 'http://x.org', kind: 'url' };
 * ```
 */
export interface Token {
  text: string;
  kind: TokenKind;
}

/**
 * Splits a text into tokens. Concatenating the tokens' text gives back the input exactly (round
 * trip). URLs, e-mail addresses and numbers are single tokens of their own kind.
 *
 * @example
 * ```ts
 * const tokens = defaultTokenizer().tokenize('Win $1,000 at www.win.biz!');
 * console.log(tokens.map((t) => t.text).join('') === 'Win $1,000 at www.win.biz!'); // true
 * ```
 */
export interface Tokenizer {
  tokenize(text: string): Token[];
}

/** The settings a tokenizer is rebuilt from (stored in a saved model's text.json). */
export interface TokenizerSettings {
  kind: 'default';
  version: 1;
}

// Top-level domains a bare host name ("cheap-meds.biz") must end in to count as a URL without
// a scheme: the common generic ones and a few country codes frequent in mail. A longer list
// would turn ordinary "word.word" typos into URLs; codes that are English words (it, in, no, be,
// at, us) are left out for the same reason ("done.It was" is not a host).
const TLDS = 'com|net|org|edu|gov|mil|biz|info|name|mobi|uk|ca|de|fr|nl|ru|cn|jp|kr|tw|au|br|ch|se|dk|fi|pl|ie|nz|za|tv|cc|ws|io';

// Sticky patterns tried in order at each position; the first match wins. Trailing punctuation
// that usually closes a sentence or a bracket is not part of a URL (trimmed after matching).
const URL_SCHEME = /(?:https?|ftp):\/\/[^\s<>"'`]+/iy;
const URL_WWW = /www\.[^\s<>"'`]+/iy;
const URL_BARE = new RegExp(`(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\\.)+(?:${TLDS})(?![a-z0-9-])(?:[/?#][^\\s<>"'\`]*)?`, 'iy');
const EMAIL = /[a-z0-9](?:[a-z0-9._%+-]*[a-z0-9_%+-])?@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}/iy;
// 1,000 · 3.14 · 2002 · 1,000.50 — digits with inner separators, not glued to letters (x86 is a word).
const NUMBER = /\d+(?:[.,:/-]\d+)*(?![\p{L}\p{N}_])/uy;
// Letters, digits and marks, with inner apostrophes, hyphens kept out (co-operate = 3 tokens).
const WORD = /[\p{L}\p{N}\p{M}_]+(?:['’][\p{L}\p{M}]+)*/uy;
const SPACE = /\s+/uy;
const TRAILING = /[.,;:!?)\]}>'"*]+$/;

function matchAt(re: RegExp, text: string, at: number): string | undefined {
  re.lastIndex = at;
  const m = re.exec(text);
  return m ? m[0] : undefined;
}

/** A URL match with closing punctuation trimmed off (a trailing ")" stays when the URL opened one). */
function trimUrl(url: string): string {
  let out = url.replace(TRAILING, '');
  const tail = url.slice(out.length);
  if (tail.startsWith(')') && out.includes('(') && !out.includes(')')) out += ')';
  return out;
}

function tokenAt(text: string, at: number): Token {
  const prev = at > 0 ? text.charCodeAt(at - 1) : 32;
  // A URL or address starts a fresh token: "foo.bar.com" inside "xfoo.bar.com" is not one.
  const boundary = !/[\p{L}\p{N}_.@-]/u.test(String.fromCharCode(prev));
  if (boundary) {
    const email = matchAt(EMAIL, text, at);
    if (email) return { text: email, kind: 'email' };
    const url = matchAt(URL_SCHEME, text, at) ?? matchAt(URL_WWW, text, at) ?? matchAt(URL_BARE, text, at);
    if (url) {
      const trimmed = trimUrl(url);
      if (trimmed.length > 0 && /[a-z0-9]/i.test(trimmed)) return { text: trimmed, kind: 'url' };
    }
  }
  const number = matchAt(NUMBER, text, at);
  if (number) return { text: number, kind: 'number' };
  const word = matchAt(WORD, text, at);
  if (word) return { text: word, kind: 'word' };
  const space = matchAt(SPACE, text, at);
  if (space) return { text: space, kind: 'space' };
  const cp = text.codePointAt(at)!;
  return { text: String.fromCodePoint(cp), kind: 'punct' };
}

class DefaultTokenizer implements Tokenizer {
  tokenize(text: string): Token[] {
    const out: Token[] = [];
    let at = 0;
    while (at < text.length) {
      const t = tokenAt(text, at);
      out.push(t);
      at += t.text.length;
    }
    return out;
  }
}

const DEFAULT = new DefaultTokenizer();

/**
 * The tokenizer advtrain's text models use: URLs (with a scheme, `www.…`, or a bare host with a
 * common top-level domain), e-mail addresses and numbers (`1,000.50`, `2002`) are single tokens;
 * words are runs of letters and digits with inner apostrophes; every other character is a
 * `punct` token of its own; white space runs are `space` tokens. Exact round trip.
 *
 * @example
 * ```ts
 * const tokens = defaultTokenizer().tokenize('Visit http://x.com/a?b=1, now!');
 * // Visit · ' ' · http://x.com/a?b=1 (url) · ',' · ' ' · now · '!'
 * ```
 */
export function defaultTokenizer(): Tokenizer {
  return DEFAULT;
}

/** The settings of {@link defaultTokenizer}, as stored beside a saved model. */
export const DEFAULT_TOKENIZER_SETTINGS: TokenizerSettings = { kind: 'default', version: 1 };

/** Rebuilds a tokenizer from stored settings; throws on settings this version does not know. */
export function tokenizerFromSettings(s: unknown): Tokenizer {
  const o = s as Partial<TokenizerSettings> | undefined;
  if (o?.kind === 'default' && o.version === 1) return defaultTokenizer();
  throw new Error(`unknown tokenizer settings ${JSON.stringify(s)}`);
}

/** Whether a token is read by the model (white space is not). */
export function isModelToken(t: Token): boolean {
  return t.kind !== 'space';
}

/** The vocabulary key of a token: its text, lower-cased. */
export function tokenKey(t: Token | string): string {
  return (typeof t === 'string' ? t : t.text).toLowerCase();
}
