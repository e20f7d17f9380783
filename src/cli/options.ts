import { InvalidArgumentError, Option } from 'commander';
import { BACKEND_CHOICES } from '../engine/backend.js';

/** Parses a positive integer option, with a message naming the fix. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer.');
  return n;
}

/** Parses any integer (seeds). */
export function integer(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('must be an integer.');
  return n;
}

/** Parses a positive number (learning rates). */
export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError('must be a positive number.');
  return n;
}

/** Parses a fraction in [0, 1). */
export function fraction(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n < 1)) throw new InvalidArgumentError('must be a number in [0, 1).');
  return n;
}

/** Options every command that computes shares. */
export function engineOptions(): Option[] {
  return [
    new Option('--backend <name>', 'compute engine').choices(BACKEND_CHOICES).default('auto'),
    new Option('--threads <n>', 'threads for the engine (default: all cores)').argParser(positiveInt),
  ];
}

/** The `--n` subset option. */
export function subsetOption(what: string): Option {
  return new Option('--n <count>', `use only the first N ${what} examples`).argParser(positiveInt);
}
