import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, basename, join, resolve } from 'node:path';
import { UserError } from './errors.js';

/**
 * Writes a file so that readers never see it half-written: temp file in the same directory, then rename.
 *
 * @example
 * ```ts
 * writeFileAtomic('out.json', JSON.stringify(result));
 * ```
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Creates `dir` with its contents in one step: `fill` writes into a temp sibling, which is then
 * renamed into place. If `dir` already exists, `fill` writes into it directly (each file should
 * then be written with {@link writeFileAtomic}).
 *
 * @example
 * ```ts
 * await withNewDir('runs/m', async (d) => writeFileAtomic(join(d, 'a.txt'), 'hi'));
 * ```
 */
export async function withNewDir(dir: string, fill: (dir: string) => Promise<void>): Promise<void> {
  if (existsSync(dir)) {
    await fill(dir);
    return;
  }
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = join(dirname(dir), `.${basename(dir)}.${process.pid}.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    await fill(tmp);
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** One path a command will write, checked before any work starts ({@link checkOutputPath}). */
export interface OutputPath {
  /** The option that named it, e.g. '--json'. */
  flag: string;
  path: string;
  /** 'file': a file written at the end; 'dir': a folder the command creates or fills. */
  kind: 'file' | 'dir';
  /** For 'dir': refuse a folder that already holds files (default false). */
  mustBeEmpty?: boolean;
  /** What to suggest when a non-empty folder is refused, e.g. 'or add --resume'. */
  emptyHint?: string;
  /** Entries that do not make a folder non-empty (e.g. a half-written first checkpoint, which the command replaces). */
  ignore?: readonly string[];
}

/** The nearest existing ancestor of `path` (or `path` itself). */
function nearestExisting(path: string): string {
  let p = resolve(path);
  while (!existsSync(p)) {
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  return p;
}

/**
 * Checks that a command will be able to write `o.path`, so that a bad output path fails in one
 * line before data or models are loaded instead of after the work is done. Refuses a file path
 * that is a folder, a folder path that is a file, a path below a file, a folder that cannot be
 * written, and (with `mustBeEmpty`) a folder that already holds files.
 *
 * @example
 * ```ts
 * checkOutputPath({ flag: '--json', path: 'out/result.json', kind: 'file' });
 * ```
 */
export function checkOutputPath(o: OutputPath): void {
  const { flag, path } = o;
  if (path.trim() === '') throw new UserError(`${flag} is empty: give a ${o.kind === 'file' ? 'file' : 'folder'} path`);
  if (existsSync(path)) {
    const isDir = statSync(path).isDirectory();
    if (o.kind === 'file' && isDir) {
      throw new UserError(`${flag} ${path} is a folder, not a file: give a file path, e.g. ${join(path, 'result' + (flag === '--report' || flag === '--out' ? '.html' : '.json'))}`);
    }
    if (o.kind === 'dir' && !isDir) throw new UserError(`${flag} ${path} is a file, not a folder: give a folder path that does not exist yet`);
    if (o.kind === 'dir' && o.mustBeEmpty && readdirSync(path).some((e) => !o.ignore?.includes(e))) {
      throw new UserError(`${flag} ${path} is not empty: choose a new folder, or delete this one${o.emptyHint ? `, ${o.emptyHint}` : ''}`);
    }
  }
  const base = nearestExisting(o.kind === 'file' ? dirname(resolve(path)) : path);
  if (!statSync(base).isDirectory()) throw new UserError(`${flag} ${path} lies below ${base}, which is a file, not a folder: choose another path`);
  // A real probe, not access(2): root passes every permission check, and /proc or a read-only mount still refuse.
  let probe: string;
  try {
    probe = mkdtempSync(join(base, '.advtrain-probe-'));
  } catch (e) {
    throw new UserError(`${flag} ${path} cannot be written: ${base} refuses new files (${(e as NodeJS.ErrnoException).code ?? 'error'}); choose another path`);
  }
  rmSync(probe, { recursive: true, force: true });
}

/** {@link checkOutputPath} for each path given (undefined entries are skipped). */
export function checkOutputPaths(outputs: (OutputPath | undefined | false)[]): void {
  for (const o of outputs) if (o && o.path !== undefined) checkOutputPath(o);
}
