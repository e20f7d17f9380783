/**
 * The machine's single-precision FMA peak on `threads` threads: compiles and runs
 * bench/fma-peak.c with the system's C compiler (-march=native), or says why it cannot.
 *
 * @example
 * ```ts
 * const p = measureFmaPeak(2);
 * if ('gflops' in p) console.log(`${p.gflops} GFLOP/s`); else console.log(p.error);
 * ```
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const source = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'fma-peak.c');

export type FmaPeak = { gflops: number; vector_bits: number } | { error: string };

export function measureFmaPeak(threads: number, seconds = 2): FmaPeak {
  const exe = join(tmpdir(), `advtrain-fma-peak-${process.pid}`);
  try {
    const cc = spawnSync('cc', ['-O3', '-march=native', '-fopenmp', source, '-o', exe], { encoding: 'utf8' });
    if (cc.status !== 0) return { error: `cc failed: ${(cc.stderr || String(cc.error)).trim().split('\n')[0]}` };
    const r = spawnSync(exe, [String(threads), String(seconds)], { encoding: 'utf8' });
    if (r.status !== 0) return { error: `fma-peak exited with ${r.status}: ${(r.stderr || '').trim().split('\n')[0]}` };
    const { gflops, vector_bits } = JSON.parse(r.stdout) as { gflops: number; vector_bits: number };
    return { gflops, vector_bits };
  } finally {
    rmSync(exe, { force: true });
  }
}
