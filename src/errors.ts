/**
 * An error caused by what the user asked for (a bad path, an unknown name, a malformed file).
 * The CLI prints its message as one line and exits with code 2; library callers can catch it by type.
 *
 * @example
 * ```ts
 * throw new UserError('--epochs must be a positive integer (got -1)');
 * ```
 */
export class UserError extends Error {
  override readonly name = 'UserError';
  constructor(message: string) {
    super(message);
  }
}
