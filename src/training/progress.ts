import cliProgress from 'cli-progress';

/** Running figures shown while an epoch trains. */
export interface StepInfo {
  loss: number;
  accuracy: number;
  examplesPerSecond: number;
}

/** Receives the Trainer's progress; the CLI picks a bar on a TTY and log lines elsewhere. */
export interface ProgressReporter {
  startEpoch(epoch: number, epochs: number, steps: number): void;
  step(step: number, info: StepInfo): void;
  endEpoch(summary: string): void;
}

/** Says nothing (library default). */
export const silentProgress: ProgressReporter = { startEpoch() {}, step() {}, endEpoch() {} };

/**
 * A progress bar with throughput, loss and accuracy (for terminals).
 *
 * @example
 * ```ts
 * const progress = process.stderr.isTTY ? barProgress() : lineProgress();
 * ```
 */
export function barProgress(stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  let bar: cliProgress.SingleBar | undefined;
  return {
    startEpoch(epoch, epochs, steps) {
      bar = new cliProgress.SingleBar(
        {
          stream,
          format: `epoch ${epoch + 1}/${epochs} [{bar}] {value}/{total} | {exs} ex/s | loss {loss} | acc {acc} | eta {eta_formatted}`,
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(steps, 0, { exs: '-', loss: '-', acc: '-' });
    },
    step(step, info) {
      bar?.update(step, { exs: info.examplesPerSecond.toFixed(0), loss: info.loss.toFixed(4), acc: info.accuracy.toFixed(4) });
    },
    endEpoch(summary) {
      bar?.stop();
      stream.write(summary + '\n');
    },
  };
}

/** Plain log lines, about ten per epoch (for logs and CI). */
export function lineProgress(write: (line: string) => void = (l) => process.stderr.write(l + '\n')): ProgressReporter {
  let steps = 0;
  let label = '';
  return {
    startEpoch(epoch, epochs, n) {
      steps = n;
      label = `epoch ${epoch + 1}/${epochs}`;
    },
    step(step, info) {
      const every = Math.max(1, Math.ceil(steps / 10));
      if (step % every === 0 && step < steps) {
        write(`${label} step ${step}/${steps} loss ${info.loss.toFixed(4)} acc ${info.accuracy.toFixed(4)} ${info.examplesPerSecond.toFixed(0)} ex/s`);
      }
    },
    endEpoch(summary) {
      write(summary);
    },
  };
}
