/**
 * The errors the connector reports. Each has a stable `code`, the string the wire
 * protocol puts in `{"error": code}`; `server/error-response.ts` maps codes to HTTP
 * statuses in one table. Errors are created where the failure is understood (key
 * validation, the GCS response mapper, the body receiver) and never re-worded on the way.
 */

export type ErrorCode =
  | 'bad_request'
  | 'unsupported_attribute'
  | 'permission_denied'
  | 'key_not_found'
  | 'not_found'
  | 'conflict'
  | 'too_large'
  | 'internal_error'
  | 'unavailable'
  | 'timeout'
  | 'client_aborted';

/** What GCS answered, when an error came from it: the facts of the operator's log line. */
export interface BackendFailure {
  /** `gs://bucket/name` the call was about. */
  readonly target: string;
  /** GCS's HTTP status; undefined when no answer came (a transport failure). */
  readonly status: number | undefined;
  /** GCS's reason (`forbidden`, `rateLimitExceeded`, ...) or the transport error code. */
  readonly reason: string | undefined;
  /** Attempts made, retries included; set once retries are over. */
  attempts?: number;
}

/** Base class: every error the connector answers with on purpose. */
export class ConnectorError extends Error {
  readonly code: ErrorCode;
  /** Set when GCS caused the error (gcs-errors.ts); undefined for the connector's own refusals. */
  backend: BackendFailure | undefined;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * The client closed its connection before the answer was complete: nobody is left to
 * answer, nothing is wrong with the connector, and the request was not malformed.
 */
export class ClientAbortedError extends ConnectorError {
  constructor(message: string) {
    super('client_aborted', message);
  }
}

/** The request is malformed: key, query, header or body. */
export class BadRequestError extends ConnectorError {
  constructor(message: string) {
    super('bad_request', message);
  }
}

/** An xattr name this connector does not know. */
export class UnsupportedAttributeError extends ConnectorError {
  constructor(message: string) {
    super('unsupported_attribute', message);
  }
}

/** GCS refused the credentials, or the operation is not allowed (read-only attribute). */
export class PermissionDeniedError extends ConnectorError {
  constructor(message: string, options?: ErrorOptions) {
    super('permission_denied', message, options);
  }
}

/** No object under that key. */
export class KeyNotFoundError extends ConnectorError {
  constructor(message: string) {
    super('key_not_found', message);
  }
}

/** No such route. */
export class RouteNotFoundError extends ConnectorError {
  constructor(message: string) {
    super('not_found', message);
  }
}

import type { ConflictReason } from './conflict-reason.ts';

export type { ConflictReason };

/** A precondition failed: the caller must read again before writing. */
export class ConflictError extends ConnectorError {
  readonly reason: ConflictReason;

  constructor(reason: ConflictReason, message: string) {
    super('conflict', message);
    this.reason = reason;
  }
}

/** A request body over the configured maximum. */
export class TooLargeError extends ConnectorError {
  constructor(message: string) {
    super('too_large', message);
  }
}

/** GCS could not be reached, or kept answering 5xx/429 until the retry budget ran out. */
export class UnavailableError extends ConnectorError {
  constructor(message: string, options?: ErrorOptions) {
    super('unavailable', message, options);
  }
}

/** GCS did not answer within the deadline. */
export class DeadlineExceededError extends ConnectorError {
  constructor(message: string, options?: ErrorOptions) {
    super('timeout', message, options);
  }
}

/** A fact the code relies on did not hold: a bug, answered 500 and logged with its stack. */
export class InternalError extends ConnectorError {
  constructor(message: string, options?: ErrorOptions) {
    super('internal_error', message, options);
  }
}
