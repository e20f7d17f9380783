import { mkdirSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

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
