/**
 * Errors of the client, shaped like Node's own fs errors (`code`, `errno`, `syscall`,
 * `path`) so that existing `catch` blocks keep working. Connector answers and transport
 * failures become these in this one file.
 */
import { constants } from 'node:os';

import { isConflictReason, type ConflictReason } from '../conflict-reason.ts';

/**
 * Why a write answered EEXIST, in the protocol's words: `exists` (an exclusive create met
 * an existing file) or `generation_mismatch` (compare-and-set lost: the file changed
 * since it was read).
 */
export type ExistsReason = ConflictReason;

const DESCRIPTIONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'file already exists',
  EACCES: 'permission denied',
  EISDIR: 'illegal operation on a directory',
  ENOTDIR: 'not a directory',
  ENOTEMPTY: 'directory not empty',
  EFBIG: 'file too large',
  EIO: 'i/o error',
  EINVAL: 'invalid argument',
  EBADF: 'bad file descriptor',
  ENODATA: 'no data available',
  ENOTSUP: 'operation not supported',
  ETIMEDOUT: 'connection timed out',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
};

/** An fs-style error from a state mount. */
export class StateFsError extends Error {
  /** The errno name, as in Node's fs errors: `ENOENT`, `EEXIST`, ... */
  readonly code: string;
  /** Negative errno number, as Node's fs errors carry it. */
  readonly errno: number;
  readonly syscall: string;
  readonly path: string;
  /** What went wrong beyond the code, when known (the connector's message). */
  readonly detail: string | undefined;
  /** HTTP status of the connector's answer, when there was one. */
  readonly status: number | undefined;
  /** The connector's `error` code (`conflict`, `key_not_found`, ...), when there was one. */
  readonly connectorCode: string | undefined;
  /** For EEXIST: an exclusive create on an existing file, or a compare-and-set conflict. */
  readonly reason: ExistsReason | undefined;

  constructor(code: string, syscall: string, path: string, detail?: string, extra: { status?: number; connectorCode?: string; reason?: ExistsReason; cause?: unknown } = {}) {
    const description = DESCRIPTIONS[code] ?? code.toLowerCase();
    super(`${code}: ${description}, ${syscall} '${path}'${detail === undefined ? '' : ` (${detail})`}`, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'StateFsError';
    this.code = code;
    this.errno = -((constants.errno as Record<string, number | undefined>)[code] ?? 5);
    this.syscall = syscall;
    this.path = path;
    this.detail = detail;
    this.status = extra.status;
    this.connectorCode = extra.connectorCode;
    this.reason = extra.reason;
  }
}

/** True for a compare-and-set conflict: the file changed since this process read it. */
export function isConflictError(error: unknown): error is StateFsError {
  return error instanceof StateFsError && error.code === 'EEXIST' && error.reason === 'generation_mismatch';
}

const CODE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'EINVAL',
  403: 'EACCES',
  404: 'ENOENT',
  409: 'EEXIST',
  413: 'EFBIG',
  500: 'EIO',
  503: 'EIO',
  504: 'ETIMEDOUT',
};

/** The connector's error body, as far as it can be read. */
function parseErrorBody(body: Buffer): { error?: string; message?: string; reason?: ConflictReason } {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as unknown;
    if (typeof parsed === 'object' && parsed !== null) {
      const { error, message, reason } = parsed as Record<string, unknown>;
      return {
        ...(typeof error === 'string' ? { error } : {}),
        ...(typeof message === 'string' ? { message } : {}),
        ...(isConflictReason(reason) ? { reason } : {}),
      };
    }
  } catch { /* not JSON: a proxy or a different server answered */ }
  return {};
}

/**
 * An fs error for a connector answer that was not a success. A 409's reason is the
 * connector's, unless the client knows better (`reason`): an `If-None-Match: *` it sent
 * because it remembered a file as absent lost a compare-and-set, though the connector
 * saw an exclusive create.
 */
export function errorFromAnswer(status: number, body: Buffer, syscall: string, path: string, reason?: ExistsReason): StateFsError {
  const parsed = parseErrorBody(body);
  const { error, message } = parsed;
  let code = CODE_BY_STATUS[status] ?? 'EIO';
  if (error === 'unsupported_attribute') code = 'ENODATA';
  const detail = message ?? (error === undefined ? `connector answered ${status}` : error);
  return new StateFsError(code, syscall, path, detail, {
    status,
    ...(error === undefined ? {} : { connectorCode: error }),
    ...(code === 'EEXIST' ? { reason: reason ?? parsed.reason ?? 'generation_mismatch' } : {}),
  });
}

/** An fs error for a request that got no answer: no connector on the socket, connection lost, deadline. */
export function fsErrorFromTransport(error: unknown, syscall: string, path: string, socketPath: string): StateFsError {
  if (error instanceof StateFsError) return error;
  const cause = error as NodeJS.ErrnoException;
  switch (cause.code) {
    case 'ENOENT':
    case 'ECONNREFUSED':
      return new StateFsError('ECONNREFUSED', syscall, path, `no connector is listening on ${socketPath}`, { cause });
    case 'ETIMEDOUT':
      return new StateFsError('ETIMEDOUT', syscall, path, cause.message, { cause });
    case 'EACCES':
      return new StateFsError('EACCES', syscall, path, `not allowed to connect to ${socketPath}`, { cause });
    default:
      return new StateFsError(cause.code === 'ECONNRESET' || cause.code === 'EPIPE' ? 'ECONNRESET' : 'EIO', syscall, path, `connection to the connector failed: ${cause.message}`, { cause });
  }
}
