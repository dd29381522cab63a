/** A failure that retrying will not fix: the record is dead-lettered as transform-failed. */
export class PermanentError extends Error {
  override readonly name: string = 'PermanentError';
}
