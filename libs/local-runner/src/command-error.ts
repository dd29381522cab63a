/** A command the user can correct: bad arguments, a run that does not exist. Exits with status 2. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
}
