/**
 * One log line for every answer that is not the caller's fault: a 5xx (GCS unavailable
 * or throttling through the retries, a timeout, the memory budget, a bug) or a refusal GCS
 * itself made (credentials, size). The line names the operation, the request path, the
 * object's `gs://` URL, GCS's status and reason, the attempts and the duration; a bug
 * also carries its stack. Lines past a rate are counted, not written, so a failing
 * backend cannot flood the log.
 */
import type { ConnectorError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { backendFailureOf, STATUS_BY_CODE } from './error-response.ts';

export interface FailedAnswer {
  readonly op: string;
  readonly method: string | undefined;
  /** The request path, without its query. */
  readonly path: string;
  readonly error: ConnectorError;
  /** What was thrown: a store error, or a bug's own error. */
  readonly thrown: unknown;
  readonly ms: number;
}

/** Failure lines written per second at most; the rest are counted in the next line's `suppressed`. */
const LINES_PER_SECOND = 20;
const MAX_PATH_CHARS = 256;

export class FailureLog {
  readonly #logger: Logger;
  #windowStart = 0;
  #written = 0;
  #suppressed = 0;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Logs `answer` when the caller could not have avoided it. */
  note(answer: FailedAnswer): void {
    const { error } = answer;
    const status = STATUS_BY_CODE[error.code];
    const backend = backendFailureOf(error);
    const notCallersFault = status >= 500 || (backend !== undefined && status !== 404 && status !== 409);
    if (!notCallersFault || !this.#admit()) return;
    const fields = {
      op: answer.op,
      method: answer.method,
      path: answer.path.slice(0, MAX_PATH_CHARS),
      status,
      code: error.code,
      ...(backend === undefined ? {} : {
        object: backend.target,
        gcs_status: backend.status ?? 'no answer',
        ...(backend.reason === undefined ? {} : { gcs_reason: backend.reason }),
        ...(backend.attempts === undefined ? {} : { attempts: backend.attempts }),
      }),
      ms: answer.ms,
      ...(this.#suppressed > 0 ? { suppressed: this.#suppressed } : {}),
      ...(error.code === 'internal_error' ? { error: answer.thrown } : {}),
    };
    this.#suppressed = 0;
    const line = `${answer.op} answered ${status} ${error.code}: ${error.message}`;
    // A bug, or credentials GCS refuses, needs someone to act; the rest may pass by itself.
    if (error.code === 'internal_error' || (error.code === 'permission_denied' && backend !== undefined)) this.#logger.error(line, fields);
    else this.#logger.warn(line, fields);
  }

  #admit(): boolean {
    const now = Date.now();
    if (now - this.#windowStart >= 1_000) {
      this.#windowStart = now;
      this.#written = 0;
    }
    if (this.#written >= LINES_PER_SECOND) {
      this.#suppressed++;
      return false;
    }
    this.#written++;
    return true;
  }
}
