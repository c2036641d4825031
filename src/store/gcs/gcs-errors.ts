/**
 * The one place where GCS answers and transport failures become connector errors.
 *
 * Transient failures come out as UnavailableError or DeadlineExceededError, and only
 * those are retried (see retry.ts); everything else is final.
 */
import {
  BadRequestError,
  ConflictError,
  ConnectorError,
  DeadlineExceededError,
  KeyNotFoundError,
  PermissionDeniedError,
  TooLargeError,
  UnavailableError,
} from '../../errors.ts';

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

/** Maps an HTTP error status from GCS to the connector error it means, carrying what GCS said. */
export function errorFromStatus(status: number, details: { message: string; reason: string | undefined }, context: GcsCallContext): ConnectorError {
  const error = statusError(status, details.message, context);
  error.backend = { target: context.target, status, reason: details.reason };
  return error;
}

function statusError(status: number, gcsMessage: string, context: GcsCallContext): ConnectorError {
  const target = context.target;
  switch (status) {
    case 400:
      // GCS verified the MD5 we sent and the bytes it received differ: corrupted in
      // transit. Nothing was stored, and the connector still holds the body, so a retry is safe.
      if (/hash/i.test(gcsMessage) && /match/i.test(gcsMessage)) {
        return new UnavailableError(`GCS received corrupted bytes for ${target} (checksum mismatch): ${gcsMessage}`);
      }
      return new BadRequestError(`GCS refused the request for ${target}: ${gcsMessage}`);
    case 401:
    case 403:
      return new PermissionDeniedError(
        `GCS refused the credentials for ${target} (HTTP ${status}): ${gcsMessage}. ` +
          'The service account needs roles/storage.objectUser on the bucket.',
      );
    case 404:
      if (/bucket/i.test(gcsMessage)) {
        return new UnavailableError(`bucket of ${target} does not exist (the connector never creates buckets): ${gcsMessage}`);
      }
      return new KeyNotFoundError(`no object ${target}`);
    case 408:
      return new DeadlineExceededError(`GCS timed out the request for ${target} (HTTP 408)`);
    case 409:
    case 412:
      return context.ifGenerationMatch === '0'
        ? new ConflictError('exists', `${target} already exists (exclusive create)`)
        : new ConflictError(
          'generation_mismatch',
          `${target} changed since generation ${context.ifGenerationMatch ?? '(unknown)'} was read; read it again and retry`,
        );
    case 413:
      return new TooLargeError(`GCS refused the size of ${target}: ${gcsMessage}`);
    case 429:
      return new UnavailableError(`GCS rate-limited requests for ${target} (HTTP 429)`);
    default:
      return new UnavailableError(`GCS answered HTTP ${status} for ${target}: ${gcsMessage}`);
  }
}

const TRANSPORT_TIMEOUT_CODES = new Set(['ETIMEDOUT']);

/** Maps an error thrown while talking to GCS (no HTTP answer) to a connector error. */
export function errorFromTransport(error: unknown, context: GcsCallContext): ConnectorError {
  if (error instanceof ConnectorError) {
    error.backend ??= { target: context.target, status: undefined, reason: error.code };
    return error;
  }
  const code = (error as { code?: unknown } | undefined)?.code;
  const detail = error instanceof Error ? error.message : String(error);
  const mapped = typeof code === 'string' && TRANSPORT_TIMEOUT_CODES.has(code)
    ? new DeadlineExceededError(`GCS did not answer in time for ${context.target} (${code})`, { cause: error })
    : new UnavailableError(`GCS unreachable for ${context.target}: ${typeof code === 'string' ? `${code} ` : ''}${detail}`, { cause: error });
  mapped.backend = { target: context.target, status: undefined, reason: typeof code === 'string' ? code : undefined };
  return mapped;
}

/** True for failures worth another attempt: the backend may answer differently next time. */
export function isTransient(error: unknown): boolean {
  return error instanceof UnavailableError || error instanceof DeadlineExceededError;
}
