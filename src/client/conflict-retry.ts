/**
 * Runs a handler again from scratch when it ends in a compare-and-set conflict, as the
 * Asya sidecar does between deliveries: truncated exponential backoff with full jitter,
 * a maximum number of attempts and a deadline.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fullJitterDelay } from '../backoff.ts';
import { StateFsError } from './fs-errors.ts';

export interface ConflictRetryOptions {
  /** Runs in all, the first included. Default 10. */
  readonly maxAttempts?: number;
  /** Backoff before the first retry, before jitter. Default 50 ms. */
  readonly baseDelayMs?: number;
  /** Backoff ceiling. Default 2000 ms. */
  readonly maxDelayMs?: number;
  /** No retry starts later than this many ms after the first run started. Default 60000. */
  readonly deadlineMs?: number;
  /** Told before each retry. */
  readonly onRetry?: (info: RetryInfo) => void;
  /** Which errors mean "run again". Default: {@link isRetryableConflict}. */
  readonly isConflict?: (error: unknown) => boolean;
  readonly signal?: AbortSignal;
  /** Source of randomness in [0, 1), for reproducible tests. Default Math.random. */
  readonly random?: () => number;
}

export interface RetryInfo {
  /** The run that just failed, from 1. */
  readonly attempt: number;
  /** Wait before the next run. */
  readonly delayMs: number;
  readonly error: unknown;
}

/**
 * EEXIST from a state mount: a compare-and-set conflict, or an exclusive create that
 * lost a race. Both mean the state changed under the handler, and both are what the Asya
 * sidecar retries (`FileExistsError`).
 */
export function isRetryableConflict(error: unknown): boolean {
  return error instanceof StateFsError ? error.code === 'EEXIST' : (error as { code?: unknown } | null)?.code === 'EEXIST';
}


/** Runs `handler(payload)`; on a conflict, runs it again after a backoff. Answers its result, or throws its last error. */
export async function runWithConflictRetry<P, R>(handler: (payload: P) => R | Promise<R>, payload: P, options: ConflictRetryOptions = {}): Promise<R> {
  const maxAttempts = options.maxAttempts ?? 10;
  const baseDelayMs = options.baseDelayMs ?? 50;
  const maxDelayMs = options.maxDelayMs ?? 2000;
  const deadlineMs = options.deadlineMs ?? 60_000;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError(`maxAttempts must be a whole number ≥ 1, got ${String(maxAttempts)}`);
  for (const [name, value] of [['baseDelayMs', baseDelayMs], ['maxDelayMs', maxDelayMs], ['deadlineMs', deadlineMs]] as const) {
    if (!(value >= 0) || !Number.isFinite(value)) throw new RangeError(`${name} must be a finite number ≥ 0, got ${String(value)}`);
  }
  const isConflict = options.isConflict ?? isRetryableConflict;
  const random = options.random ?? Math.random;
  const started = Date.now();

  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await handler(payload);
    } catch (error) {
      if (!isConflict(error) || attempt >= maxAttempts) throw error;
      const delayMs = fullJitterDelay(attempt, baseDelayMs, maxDelayMs, random);
      if (Date.now() - started + delayMs > deadlineMs) throw error;
      options.onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs, undefined, options.signal === undefined ? undefined : { signal: options.signal });
    }
  }
}
