import { InvalidArgumentError, Option } from 'commander';
import { BACKEND_CHOICES } from '../engine/backend.js';
import { UserError } from '../errors.js';

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

/** `--schema`: the tabular schema of a `csv:FILE` table. */
export function schemaOption(): Option {
  return new Option('--schema <file>', 'csv:FILE tables: the tabular schema (feature types, bounds, relations; see schemas/nsl-kdd.json) — the one the model was trained with');
}

/** `--label-column` of a `csv:FILE` data set (a table's, or a text file's). */
export function labelColumnOption(): Option {
  return new Option('--label-column <name>', "csv:FILE data: the column holding the label (texts: default 'label'; tables: the one column the schema does not describe)");
}

/**
 * Refuses `--schema` on anything but `csv:FILE` (the named tabular data sets bring their own),
 * before any work.
 *
 * @example
 * ```ts
 * checkSchemaOption({ dataset: 'nsl-kdd', schema: 's.json' }); // throws: --schema applies to csv:FILE tables
 * ```
 */
export function checkSchemaOption(o: { dataset: string; schema?: string }): void {
  if (o.schema !== undefined && !o.dataset.startsWith('csv:')) {
    throw new UserError(`--schema applies to csv:FILE tables, not ${o.dataset} (a named data set brings its own schema): drop it`);
  }
}
