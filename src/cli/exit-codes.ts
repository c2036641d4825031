/** The CLI's exit codes: one per kind of failure, so scripts can tell them apart. */
import { StateFsError } from '../client/fs-errors.ts';

export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  notFound: 3,
  conflict: 4,
  permission: 5,
  invalid: 6,
  unavailable: 7,
  timeout: 8,
} as const;

/** The exit code for an error the client raised. */
export function exitCodeOf(error: unknown): number {
  if (!(error instanceof StateFsError)) return EXIT.failed;
  switch (error.code) {
    case 'ENOENT': return EXIT.notFound;
    case 'EEXIST': return EXIT.conflict;
    case 'EACCES': return EXIT.permission;
    case 'EINVAL':
    case 'EFBIG':
    case 'ENODATA':
    case 'EISDIR':
    case 'ENOTDIR': return EXIT.invalid;
    case 'ETIMEDOUT': return EXIT.timeout;
    case 'ECONNREFUSED':
    case 'ECONNRESET': return EXIT.unavailable;
    case 'EIO': return error.status === 503 ? EXIT.unavailable : EXIT.failed;
    default: return EXIT.failed;
  }
}
