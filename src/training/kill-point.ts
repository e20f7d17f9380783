/**
 * A test hook for crash safety: with `ADVTRAIN_TEST_KILL_AT=NAME:N` in the environment, the
 * process sends itself SIGKILL the N-th time (1-based) it passes the point called NAME: a real
 * kill at a chosen place, no cleanup, as an out-of-memory kill or a power cut would leave it.
 * Points: `step` (after an optimizer step), `checkpoint-write` (model files written, the rest of
 * the checkpoint not), `checkpoint-manifest` (all files but the manifest written),
 * `checkpoint-rename` (the old checkpoint moved to checkpoint.prev, the new one not yet in place),
 * `epoch` (after an epoch's checkpoint), `eval-chunk` (after an evaluation chunk's state is saved),
 * `attack-chunk` (after an attack run's chunk is saved in its state).
 * Without the variable each point costs one comparison.
 */
const spec = parse(process.env.ADVTRAIN_TEST_KILL_AT);
let hits = 0;

function parse(v: string | undefined): { name: string; n: number } | undefined {
  if (!v) return undefined;
  const m = /^([a-z-]+):(\d+)$/.exec(v);
  if (!m) throw new Error(`ADVTRAIN_TEST_KILL_AT must be NAME:N, e.g. step:5 (got '${v}')`);
  return { name: m[1]!, n: Number(m[2]) };
}

/** Kills the process here if ADVTRAIN_TEST_KILL_AT names this point and this is its N-th pass. */
export function killPoint(name: string): void {
  if (spec === undefined || spec.name !== name) return;
  if (++hits === spec.n) process.kill(process.pid, 'SIGKILL');
}
