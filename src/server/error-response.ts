/**
 * Errors to HTTP: what a store failure means in the protocol, the protocol's status
 * table, and the JSON body every error carries (none on HEAD). The only place where
 * store errors become protocol errors and where statuses for errors are chosen.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  BadRequestError,
  ConflictError,
  ConnectorError,
  DeadlineExceededError,
  InternalError,
  KeyNotFoundError,
  PermissionDeniedError,
  TooLargeError,
  UnavailableError,
  type ErrorCode,
} from '../errors.ts';
import { StoreError, type BackendFailure, type StoreErrorKind } from '../store/store-error.ts';

export const STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  bad_request: 400,
  unsupported_attribute: 400,
  permission_denied: 403,
  key_not_found: 404,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  internal_error: 500,
  unavailable: 503,
  timeout: 504,
  // Never sent (the client has gone); nginx's code for it, in metrics and logs.
  client_aborted: 499,
};

const PROTOCOL_ERROR_OF: Readonly<Record<StoreErrorKind, (message: string, options: ErrorOptions) => ConnectorError>> = {
  not_found: (message, options) => new KeyNotFoundError(message, options),
  exists: (message, options) => new ConflictError('exists', message, options),
  changed: (message, options) => new ConflictError('generation_mismatch', message, options),
  denied: (message, options) => new PermissionDeniedError(message, options),
  refused: (message, options) => new BadRequestError(message, options),
  too_large: (message, options) => new TooLargeError(message, options),
  unavailable: (message, options) => new UnavailableError(message, options),
  timeout: (message, options) => new DeadlineExceededError(message, options),
  broken: (message, options) => new InternalError(message, options),
};

/**
 * Any thrown value as a ConnectorError: a store error as the protocol error it means (its
 * message kept, the store error as its cause); what is neither is a bug.
 */
export function asConnectorError(error: unknown): ConnectorError {
  if (error instanceof ConnectorError) return error;
  if (error instanceof StoreError) return PROTOCOL_ERROR_OF[error.kind](error.message, { cause: error });
  return new InternalError('internal error (logged by the connector)', { cause: error });
}

/** What the backend answered, when a store failure behind `error` came from it. */
export function backendFailureOf(error: ConnectorError): BackendFailure | undefined {
  return error.cause instanceof StoreError ? error.cause.backend : undefined;
}

/**
 * Answers `error` with its status and JSON body. When the response has already begun
 * (a download failing mid-stream), the connection is cut instead, so the client sees a
 * short body rather than a complete-looking one.
 */
export function sendError(req: IncomingMessage, res: ServerResponse, error: ConnectorError, closeConnection: boolean): void {
  if (res.headersSent) {
    res.destroy(error);
    return;
  }
  const status = STATUS_BY_CODE[error.code];
  const payload: Record<string, string> = { error: error.code, message: error.message };
  if (error instanceof ConflictError) payload.reason = error.reason;
  const body = JSON.stringify(payload);
  // Headers a route set before it failed (a HEAD's X-Is-File and length) describe a success that did not happen.
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  if (closeConnection) res.setHeader('connection', 'close');
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}
