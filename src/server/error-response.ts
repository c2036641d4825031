/**
 * Errors to HTTP: the protocol's status table, and the JSON body every error carries
 * (none on HEAD). The only place statuses for errors are chosen.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConflictError, ConnectorError, InternalError, type ErrorCode } from '../errors.ts';

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

/** Any thrown value as a ConnectorError; what is not one already is a bug. */
export function asConnectorError(error: unknown): ConnectorError {
  if (error instanceof ConnectorError) return error;
  return new InternalError('internal error (logged by the connector)', { cause: error });
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
