/**
 * Calls on one bucket: the request paths, each call's deadline, and the retries inside it
 * (retry.ts). The reads, the writes and the rest of gcs-store.ts are built from these, so
 * every GCS request is timed, retried and observed the same way.
 */
import { deadlineTimer } from './attempt-timer.ts';
import type { GcsCallContext } from './gcs-errors.ts';
import type { GcsCall, GcsHttp } from './gcs-http.ts';
import { OBJECT_FIELDS, type GcsObjectResource } from './object-resource.ts';
import { withRetries, type AttemptInfo, type RetryPolicy } from './retry.ts';
import { encodeRfc3986 } from './url-signer.ts';

export interface GcsCallsOptions {
  readonly bucket: string;
  readonly http: GcsHttp;
  /** Deadline of one call, its retries included. */
  readonly timeoutMs: number;
  readonly retry: RetryPolicy;
}

export class GcsCalls {
  readonly bucket: string;
  readonly http: GcsHttp;
  readonly timeoutMs: number;
  readonly retry: RetryPolicy;
  /** `/storage/v1/b/<bucket>`. */
  readonly bucketPath: string;

  constructor(options: GcsCallsOptions) {
    this.bucket = options.bucket;
    this.http = options.http;
    this.timeoutMs = options.timeoutMs;
    this.retry = options.retry;
    this.bucketPath = `/storage/v1/b/${encodeRfc3986(options.bucket)}`;
  }

  objectUrl(name: string): string {
    return `gs://${this.bucket}/${name}`;
  }

  objectPath(name: string): string {
    return `${this.bucketPath}/o/${encodeRfc3986(name)}`;
  }

  context(name: string, ifGenerationMatch?: string): GcsCallContext {
    return { target: this.objectUrl(name), ifGenerationMatch };
  }

  /** When a call starting now must be done. */
  deadline(): number {
    return Date.now() + this.timeoutMs;
  }

  /** Runs `attempt` with retries until `deadline`; every retry is observed, and told to `noteRetry`. */
  retrying<T>(op: string, deadline: number, attempt: (info: AttemptInfo) => Promise<T>, noteRetry?: () => void): Promise<T> {
    return withRetries(this.retry, deadline, attempt, (error, failedAttempt) => {
      this.http.observer.retried(op, error, failedAttempt);
      noteRetry?.();
    });
  }

  /** Tells the observer of a retry made outside `retrying` (a resumed download). */
  retried(op: string, error: unknown, attempt: number): void {
    this.http.observer.retried(op, error, attempt);
  }

  /** A call that answers JSON, each attempt within the call's deadline. */
  async json<T>(
    op: string,
    method: GcsCall['method'],
    path: string,
    context: GcsCallContext,
    options: { readonly body?: string; readonly headers?: Record<string, string>; readonly deadline?: number } = {},
  ): Promise<T> {
    return this.retrying(op, options.deadline ?? this.deadline(), async ({ deadline }) => {
      const timer = deadlineTimer(deadline, context.target);
      try {
        return await this.http.json<T>({ op, method, path, signal: timer.signal, context, body: options.body ?? null, headers: options.headers ?? {} });
      } finally {
        timer.disarm();
      }
    });
  }

  /** The object's resource, trimmed to the fields the connector keeps. */
  resource(name: string): Promise<GcsObjectResource> {
    return this.json<GcsObjectResource>('stat', 'GET', `${this.objectPath(name)}?fields=${OBJECT_FIELDS}`, this.context(name));
  }
}
