import { randomUUID } from 'node:crypto';
import { S3 } from '@pipeline/limits';
import { LAYOUT, type RecordId, recordIdString } from '@pipeline/records';
import { PermanentError } from './errors';
import type { OnceOutcome, TransformContext } from './index';

/**
 * Claims a key for good: resolves true for the first call with a key, false for every later one,
 * whoever makes it (an S3 conditional PUT in the processor; a Set in tests).
 */
export type ClaimPort = (claimKey: string, body: string) => Promise<boolean>;

/**
 * The context a transform gets for one record: its id, and `once`, which claims
 * `once/<job>/<key>` (key: the record's id unless given) before it runs the effect, and skips the
 * effect when the key was claimed before. See {@link TransformContext.once}.
 */
export function transformContext(id: RecordId, job: string, claim: ClaimPort): TransformContext {
  return {
    id,
    async once<T>(effect: () => T | Promise<T>, key = recordIdString(id)): Promise<OnceOutcome<T>> {
      const claimKey = onceClaimKey(job, key);
      let claimed: boolean;
      try {
        // A body of this claim alone: a claimant can tell its own claim from an earlier one.
        claimed = await claim(claimKey, JSON.stringify({ job, record: recordIdString(id), key, claim: randomUUID() }));
      } catch (error) {
        // Nothing ran: the transform fails as transient and is retried, the effect with it.
        throw new Error(`could not claim ${claimKey} (the side effect did not run): ${(error as Error).message}`, {
          cause: error,
        });
      }
      if (!claimed) return { ran: false, claim: claimKey };
      return { ran: true, value: await effect(), claim: claimKey };
    },
  };
}

/** The claim's object key; a key S3 cannot hold is the job's mistake, so the record is dead-lettered. */
export function onceClaimKey(job: string, key: string): string {
  if (key === '') throw new PermanentError(`job ${job}: context.once was given an empty key`);
  const claimKey = LAYOUT.onceClaimKey(job, key);
  if (Buffer.byteLength(claimKey) > S3.maxKeyBytes)
    throw new PermanentError(
      `job ${job}: the claim key ${claimKey.slice(0, 80)}… is over S3's ${S3.maxKeyBytes} bytes; give context.once a shorter key`,
    );
  return claimKey;
}

/**
 * Claims kept in memory: for unit tests of a transform that uses `once`, and for benches with no S3.
 * `claims` holds every key claimed.
 */
export function memoryClaims(): ClaimPort & { claims: Set<string> } {
  const claims = new Set<string>();
  const claim = async (key: string) => {
    if (claims.has(key)) return false;
    claims.add(key);
    return true;
  };
  return Object.assign(claim, { claims });
}
