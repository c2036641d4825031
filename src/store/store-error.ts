/**
 * How a store operation failed, in the store's own terms. Stores (GCS, in-memory, the
 * read cache over them) throw only these; the protocol's errors (`../errors.ts`) are
 * chosen from them once, at the server's edge (`server/error-response.ts`), so the store
 * knows nothing of HTTP statuses or wire codes.
 *
 * A StoreError is never changed after it is thrown: a retry loop that wants to say how
 * many attempts a failure took throws a new one (`afterAttempts`).
 */

/**
 * - `not_found`: no such object;
 * - `exists`: a create-only write (`ifGenerationMatch` 0) found an object;
 * - `changed`: the object is not at the generation the operation was conditioned on;
 * - `denied`: the credentials were refused, or the operation is not allowed;
 * - `refused`: the backend refused the request as malformed;
 * - `too_large`: the backend refused the object's size;
 * - `unavailable`: the backend could not be reached or failed; worth another attempt;
 * - `timeout`: the backend did not answer in time; worth another attempt;
 * - `broken`: the backend answered something the store cannot make sense of.
 */
export type StoreErrorKind =
  | 'not_found'
  | 'exists'
  | 'changed'
  | 'denied'
  | 'refused'
  | 'too_large'
  | 'unavailable'
  | 'timeout'
  | 'broken';

/** What the backend answered, for the operator's log line. */
export interface BackendFailure {
  /** `gs://bucket/name` the call was about. */
  readonly target: string;
  /** The backend's HTTP status; undefined when no answer came (a transport failure). */
  readonly status: number | undefined;
  /** The backend's reason (`forbidden`, `rateLimitExceeded`, ...) or the transport error code. */
  readonly reason: string | undefined;
  /** Attempts made, retries included, once retries are over. */
  readonly attempts?: number | undefined;
}

export interface StoreErrorOptions {
  readonly cause?: unknown;
  readonly backend?: BackendFailure | undefined;
}

export class StoreError extends Error {
  readonly kind: StoreErrorKind;
  /** Set when a backend answer or transport failure caused the error; undefined for the store's own refusals. */
  readonly backend: BackendFailure | undefined;

  constructor(kind: StoreErrorKind, message: string, options: StoreErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StoreError';
    this.kind = kind;
    this.backend = options.backend;
  }

  /** The same failure, saying it took `attempts` attempts (when a backend caused it). */
  afterAttempts(attempts: number): StoreError {
    if (this.backend === undefined) return this;
    const copy = new StoreError(this.kind, this.message, { cause: this.cause, backend: { ...this.backend, attempts } });
    if (this.stack !== undefined) copy.stack = this.stack;
    return copy;
  }
}

/** True when `error` is a StoreError, of one of `kinds` when any are given. */
export function isStoreError(error: unknown, ...kinds: readonly StoreErrorKind[]): error is StoreError {
  return error instanceof StoreError && (kinds.length === 0 || kinds.includes(error.kind));
}

/** True for failures worth another attempt: the backend may answer differently next time. */
export function isTransient(error: unknown): boolean {
  return error instanceof StoreError && (error.kind === 'unavailable' || error.kind === 'timeout');
}
