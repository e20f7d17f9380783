import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../fsutil.js';
import type { TrainCallback } from './callback.js';

/**
 * `outDir/metrics.jsonl`: one JSON line per epoch. On resume the file is rewritten from the
 * checkpoint's history (it may hold an epoch whose checkpoint was never written: the checkpoint is
 * the truth). The directory is made by the first write, so a run that fails before leaves none.
 *
 * @example
 * ```ts
 * const log = metricsLog('runs/m');
 * ```
 */
export function metricsLog(outDir: string): TrainCallback {
  const path = join(outDir, 'metrics.jsonl');
  return {
    name: 'metrics-log',
    onTrainBegin(loop, resumed) {
      if (resumed) writeFileAtomic(path, loop.history.map((h) => JSON.stringify(h) + '\n').join(''));
    },
    onEpochEnd(_loop, m) {
      mkdirSync(outDir, { recursive: true });
      appendFileSync(path, JSON.stringify(m) + '\n');
    },
  };
}
