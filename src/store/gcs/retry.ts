/**
 * Retries with truncated exponential backoff and full jitter, inside one deadline.
 *
 * Only transient failures (see gcs-errors.ts `isTransient`) are retried; a retry is never
 * started when its backoff would end past the deadline, so the caller gets the last real
 * error instead of a wait that cannot succeed.
 */
import { fullJitterDelay } from '../../backoff.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { isTransient, StoreError } from '../store-error.ts';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
  /** Backoff before the second attempt; doubles each time. */
  readonly baseDelayMs: number;
  /** Largest backoff. */
  readonly maxDelayMs: number;
}

export interface AttemptInfo {
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** Epoch milliseconds by which the whole operation must be done. */
  readonly deadline: number;
}

/**
 * Runs `attempt` until it succeeds, fails with a non-transient error, runs out of
 * attempts, or would run past `deadline`. `onRetry` is told of each retry and its cause.
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  deadline: number,
  attempt: (info: AttemptInfo) => Promise<T>,
  onRetry: (error: unknown, attempt: number) => void,
  random: () => number = Math.random,
): Promise<T> {
  for (let n = 1; ; n++) {
    if (Date.now() >= deadline) throw new StoreError('timeout', 'GCS did not answer within the deadline');
    try {
      return await attempt({ attempt: n, deadline });
    } catch (error) {
      if (!isTransient(error) || n >= policy.maxAttempts) throw withAttempts(error, n);
      const delay = fullJitterDelay(n, policy.baseDelayMs, policy.maxDelayMs, random);
      if (Date.now() + delay >= deadline) throw withAttempts(error, n);
      onRetry(error, n);
      await sleep(delay);
    }
  }
}

/** The final failure, saying how many attempts it took, for the log line. */
function withAttempts(error: unknown, attempts: number): unknown {
  return error instanceof StoreError ? error.afterAttempts(attempts) : error;
}
