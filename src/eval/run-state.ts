import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../fsutil.js';
import { UserError } from '../errors.js';

/**
 * The settings a run's saved state depends on, keyed by the option that sets each one
 * (`'--seed'`, `'--threat'`, …). A state saved with other settings is refused, naming the first
 * option (in this object's order) whose value differs.
 */
export type StateSettings = Readonly<Record<string, string | number | boolean | null>>;

/** How a state file is described in messages. */
export interface StateFileLabels {
  /** What the state belongs to, e.g. 'attack' or 'evaluation'. */
  what: string;
  /** How to start over instead, e.g. 'add --fresh or delete it'. */
  startOver: string;
}

/** A state file's content: the run's own JSON data and a binary part (typed arrays, copied out). */
export interface LoadedState<T> {
  data: T;
  blob: Uint8Array;
}

const FORMAT = 'advtrain-state';
const VERSION = 1;

interface Header {
  format: string;
  version: number;
  json_bytes: number;
  blob_bytes: number;
  sha256: string;
}

/**
 * Saves a run's state in one file, atomically (temp file, then rename): a header line (format,
 * version, sizes, SHA-256 of the rest), then `{settings, data}` as JSON, then the binary part.
 * A reader never sees a half-written state, and one damaged later is detected by
 * {@link loadRunState}.
 *
 * @example
 * ```ts
 * saveRunState('out.json.state', { '--seed': 0 }, { next: 64 }, new Uint8Array(adv.buffer));
 * ```
 */
export function saveRunState(path: string, settings: StateSettings, data: unknown, blob: Uint8Array = new Uint8Array(0)): void {
  const json = Buffer.from(JSON.stringify({ settings, data }), 'utf8');
  const sha256 = createHash('sha256').update(json).update(blob).digest('hex');
  const header: Header = { format: FORMAT, version: VERSION, json_bytes: json.byteLength, blob_bytes: blob.byteLength, sha256 };
  writeFileAtomic(path, Buffer.concat([Buffer.from(JSON.stringify(header) + '\n', 'utf8'), json, blob]));
}

const show = (v: unknown) => (v === undefined ? '(none)' : typeof v === 'string' ? v : JSON.stringify(v));

/**
 * Reads the state saved by {@link saveRunState} at `path` (undefined if there is none). Throws
 * one {@link UserError} line naming the file if it is truncated or corrupt, and one naming the
 * option to change if it was saved with other `settings`.
 *
 * @example
 * ```ts
 * const s = loadRunState<{ next: number }>('out.json.state', { '--seed': 0 }, { what: 'attack', startOver: 'add --fresh or delete it' });
 * ```
 */
export function loadRunState<T>(path: string, settings: StateSettings, labels: StateFileLabels): LoadedState<T> | undefined {
  if (!existsSync(path)) return undefined;
  const damaged = (why: string) => new UserError(`${labels.what} state ${path} is ${why}: ${labels.startOver} to start over`);
  const bytes = readFileSync(path);
  const nl = bytes.indexOf(0x0a);
  let header: Header;
  try {
    header = JSON.parse(bytes.subarray(0, nl < 0 ? bytes.length : nl).toString('utf8')) as Header;
  } catch {
    throw damaged('corrupt or truncated (no readable header)');
  }
  if (header?.format !== FORMAT) throw damaged('not a state file advtrain wrote (corrupt?)');
  if (header.version !== VERSION) throw damaged(`of format version ${header.version}, which this advtrain does not read`);
  const body = bytes.subarray(nl + 1);
  if (body.byteLength !== header.json_bytes + header.blob_bytes) throw damaged(`truncated (${body.byteLength} of ${header.json_bytes + header.blob_bytes} bytes after the header)`);
  if (createHash('sha256').update(body).digest('hex') !== header.sha256) throw damaged('corrupt (its checksum does not match)');
  const { settings: saved, data } = JSON.parse(body.subarray(0, header.json_bytes).toString('utf8')) as { settings: Record<string, unknown>; data: T };
  for (const key of new Set([...Object.keys(settings), ...Object.keys(saved)])) {
    if (JSON.stringify(saved[key]) !== JSON.stringify(settings[key])) {
      throw new UserError(
        `${labels.what} state ${path} was made with ${key} ${show(saved[key])}, not ${show(settings[key])}: ` +
          `rerun with the same ${key} to resume it, or ${labels.startOver} to start over`,
      );
    }
  }
  return { data, blob: new Uint8Array(body.subarray(header.json_bytes)) };
}

/**
 * A short digest of a model's files (model.json and its weight files, or the .onnx file), so
 * that a state saved for a model that was since replaced at the same path is refused.
 *
 * @example
 * ```ts
 * modelDigest('runs/m'); // 'runs/m@sha256:3f2a…' (first 16 hex digits)
 * ```
 */
export function modelDigest(path: string): string {
  const h = createHash('sha256');
  if (statSync(path).isDirectory() || path.toLowerCase().endsWith('.json')) {
    const file = statSync(path).isDirectory() ? join(path, 'model.json') : path;
    const dir = statSync(path).isDirectory() ? path : join(file, '..');
    const json = readFileSync(file);
    h.update(json);
    const manifest = (JSON.parse(json.toString('utf8')) as { weightsManifest?: { paths: string[] }[] }).weightsManifest ?? [];
    for (const p of manifest.flatMap((g) => g.paths)) if (existsSync(join(dir, p))) h.update(readFileSync(join(dir, p)));
  } else {
    h.update(readFileSync(path));
  }
  return `${path}@sha256:${h.digest('hex').slice(0, 16)}`;
}
