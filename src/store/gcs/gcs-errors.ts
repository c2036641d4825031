/**
 * The one place where GCS answers and transport failures become store errors, each
 * carrying what GCS said (status, reason) for the operator's log line.
 *
 * Transient failures come out as `unavailable` or `timeout`, and only those are retried
 * (see retry.ts); everything else is final.
 */
import { StoreError, type BackendFailure } from '../store-error.ts';

/** What a failed GCS call was about, for the wording of the error. */
export interface GcsCallContext {
  /** `gs://bucket/name` (or `gs://bucket` for bucket-level calls). */
  readonly target: string;
  /** The precondition the call carried, to tell an exclusive create from a CAS conflict. */
  readonly ifGenerationMatch?: string | undefined;
}

/** GCS's message and reason, from the `{"error":{"message":...,"errors":[{"reason":...}]}}` body of an error status. */
export function gcsErrorDetails(body: string): { message: string; reason: string | undefined } {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown; errors?: Array<{ reason?: unknown }> } };
    const reason = parsed.error?.errors?.[0]?.reason;
    if (typeof parsed.error?.message === 'string') return { message: parsed.error.message, reason: typeof reason === 'string' ? reason : undefined };
  } catch {
    // Not JSON: fall through to the raw text.
  }
  return { message: body.trim().slice(0, 200) || 'no message', reason: undefined };
}

/** Maps an HTTP error status from GCS to the store error it means, carrying what GCS said. */
export function errorFromStatus(status: number, details: { message: string; reason: string | undefined }, context: GcsCallContext): StoreError {
  const backend: BackendFailure = { target: context.target, status, reason: details.reason };
  const gcsMessage = details.message;
  const target = context.target;
  const error = (kind: StoreError['kind'], message: string): StoreError => new StoreError(kind, message, { backend });
  switch (status) {
    case 400:
      // GCS verified the MD5 we sent and the bytes it received differ: corrupted in
      // transit. Nothing was stored, and the connector still holds the body, so a retry is safe.
      if (/hash/i.test(gcsMessage) && /match/i.test(gcsMessage)) {
        return error('unavailable', `GCS received corrupted bytes for ${target} (checksum mismatch): ${gcsMessage}`);
      }
      return error('refused', `GCS refused the request for ${target}: ${gcsMessage}`);
    case 401:
    case 403:
      return error('denied',
        `GCS refused the credentials for ${target} (HTTP ${status}): ${gcsMessage}. ` +
          'The service account needs roles/storage.objectUser on the bucket.',
      );
    case 404:
      if (/bucket/i.test(gcsMessage)) {
        return error('unavailable', `bucket of ${target} does not exist (the connector never creates buckets): ${gcsMessage}`);
      }
      return error('not_found', `no object ${target}`);
    case 408:
      return error('timeout', `GCS timed out the request for ${target} (HTTP 408)`);
    case 409:
    case 412:
      return context.ifGenerationMatch === '0'
        ? error('exists', `${target} already exists (exclusive create)`)
        : error(
          'changed',
          `${target} changed since generation ${context.ifGenerationMatch ?? '(unknown)'} was read; read it again and retry`,
        );
    case 413:
      return error('too_large', `GCS refused the size of ${target}: ${gcsMessage}`);
    case 429:
      return error('unavailable', `GCS rate-limited requests for ${target} (HTTP 429)`);
    default:
      return error('unavailable', `GCS answered HTTP ${status} for ${target}: ${gcsMessage}`);
  }
}

const TRANSPORT_TIMEOUT_CODES = new Set(['ETIMEDOUT']);

/**
 * Maps an error thrown while talking to GCS (no HTTP answer) to a store error. A store
 * error already (a deadline, the credentials) is kept, or re-made with the call's target
 * when it has none.
 */
export function errorFromTransport(error: unknown, context: GcsCallContext): StoreError {
  if (error instanceof StoreError) {
    if (error.backend !== undefined) return error;
    return new StoreError(error.kind, error.message, { cause: error.cause, backend: { target: context.target, status: undefined, reason: error.kind } });
  }
  const code = (error as { code?: unknown } | undefined)?.code;
  const detail = error instanceof Error ? error.message : String(error);
  const backend: BackendFailure = { target: context.target, status: undefined, reason: typeof code === 'string' ? code : undefined };
  return typeof code === 'string' && TRANSPORT_TIMEOUT_CODES.has(code)
    ? new StoreError('timeout', `GCS did not answer in time for ${context.target} (${code})`, { cause: error, backend })
    : new StoreError('unavailable', `GCS unreachable for ${context.target}: ${typeof code === 'string' ? `${code} ` : ''}${detail}`, { cause: error, backend });
}
