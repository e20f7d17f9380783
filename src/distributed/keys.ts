/** Redis keys of sharded runs (BullMQ's own keys live under its `bull:` prefix). */
import { createHash } from 'node:crypto';

/** How long a finished chunk's result stays if its run is never completed. */
export const RESULT_TTL_S = 7 * 24 * 3600;

/** Where a chunk's result lives. */
export const resultKey = (run: string, chunk: number): string => `advtrain:run:${run}:chunk:${chunk}`;

/** The BullMQ job id of a chunk (a rerun adds the same ids, so a waiting job is not queued twice). */
export const jobId = (run: string, chunk: number): string => `${run}-${chunk}`;

/**
 * A run's id: a hash of every setting its result depends on, so the same command restarted
 * finds its finished chunks, and any other command gets a run of its own.
 */
export function runId(settings: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify(settings)).digest('hex').slice(0, 32);
}
