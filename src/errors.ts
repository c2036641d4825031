/**
 * The errors the connector reports. Each has a stable `code`, the string the wire
 * protocol puts in `{"error": code}`; `server/error-response.ts` maps codes to HTTP
 * statuses in one table. Errors are created where the failure is understood (key
 * validation, the query planner, the body receiver) and never re-worded on the way. A
 * store's failures are its own (`store/store-error.ts`) and become one of these at the
 * server's edge, with the store error as their `cause`.
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

/** Base class: every error the connector answers with on purpose. */
export class ConnectorError extends Error {
  readonly code: ErrorCode;

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
  constructor(message: string, options?: ErrorOptions) {
    super('bad_request', message, options);
  }
}

/** An xattr name this connector does not know. */
export class UnsupportedAttributeError extends ConnectorError {
  constructor(message: string) {
    super('unsupported_attribute', message);
  }
}

/** The store refused the credentials, or the operation is not allowed (read-only attribute). */
export class PermissionDeniedError extends ConnectorError {
  constructor(message: string, options?: ErrorOptions) {
    super('permission_denied', message, options);
  }
}

/** No object under that key. */
export class KeyNotFoundError extends ConnectorError {
  constructor(message: string, options?: ErrorOptions) {
    super('key_not_found', message, options);
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

  constructor(reason: ConflictReason, message: string, options?: ErrorOptions) {
    super('conflict', message, options);
    this.reason = reason;
  }
}

/** A request body over the configured maximum. */
export class TooLargeError extends ConnectorError {
  constructor(message: string, options?: ErrorOptions) {
    super('too_large', message, options);
  }
}

/** GCS could not be reached or kept answering 5xx/429 until the retries ran out, or the connector is out of room. */
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
