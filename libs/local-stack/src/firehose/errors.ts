/**
 * Errors of the local Firehose endpoint.
 *
 * `FirehoseApiError` is what the endpoint answers a caller with: AWS's JSON 1.1 error shape
 * (`__type` + `message`, HTTP 400), so the SDK raises an exception of the same name as against AWS.
 * `FirehoseDeliveryError` is raised by `flush()`/`close()` when buffered records could not be
 * written to S3; those records stay buffered (and journaled) for the next attempt.
 */

/** The account id the endpoint pretends to be, as in ARNs and error messages. */
export const LOCAL_ACCOUNT_ID = '000000000000';

/** An error answered to the API caller, shaped as AWS answers it. */
export class FirehoseApiError extends Error {
  constructor(
    /** The AWS error code, sent as `__type`. */
    readonly code: string,
    message: string,
    readonly status: number = 400,
  ) {
    super(message);
    this.name = 'FirehoseApiError';
  }

  toBody(): { __type: string; message: string } {
    return { __type: this.code, message: this.message };
  }
}

export function resourceNotFound(streamName: string): FirehoseApiError {
  return new FirehoseApiError(
    'ResourceNotFoundException',
    `Firehose stream ${streamName} under account ${LOCAL_ACCOUNT_ID} not found. Create it with CreateDeliveryStream first.`,
  );
}

export function resourceInUse(streamName: string): FirehoseApiError {
  return new FirehoseApiError(
    'ResourceInUseException',
    `Firehose stream ${streamName} under account ${LOCAL_ACCOUNT_ID} already exists. Delete it first or reuse it.`,
  );
}

export function invalidArgument(message: string): FirehoseApiError {
  return new FirehoseApiError('InvalidArgumentException', message);
}

/**
 * AWS checks the API model's constraints (lengths, ranges, required members) before the operation
 * runs and answers every violation at once as a `ValidationException`, e.g.
 * `1 validation error detected: Value at 'records' failed to satisfy constraint: ...`.
 */
export function validationError(violations: string[]): FirehoseApiError {
  const count = violations.length;
  return new FirehoseApiError(
    'ValidationException',
    `${count} validation error${count === 1 ? '' : 's'} detected: ${violations.join('; ')}`,
  );
}

export function serializationError(message: string): FirehoseApiError {
  return new FirehoseApiError('SerializationException', message);
}

/** What AWS's service framework answers to an `X-Amz-Target` it does not know. */
export function unknownOperation(target: string | undefined): FirehoseApiError {
  return new FirehoseApiError(
    'com.amazon.coral.service#UnknownOperationException',
    `Unknown operation ${target ?? '(no X-Amz-Target header)'}: expected X-Amz-Target Firehose_20150804.<Operation>`,
  );
}

/** Buffered records could not be delivered to S3; they stay buffered for the next flush. */
export class FirehoseDeliveryError extends Error {
  constructor(
    readonly streamName: string,
    readonly bucket: string,
    cause: unknown,
  ) {
    super(
      `could not deliver buffered records of Firehose stream ${streamName} to bucket ${bucket}: ${describe(cause)}; ` +
        'check that the bucket exists and the S3 endpoint is up, then flush again (the records are kept)',
      { cause },
    );
    this.name = 'FirehoseDeliveryError';
  }
}

function describe(cause: unknown): string {
  if (cause instanceof Error) return `${cause.name}: ${cause.message}`;
  return String(cause);
}
