/**
 * Timing of one GCS request attempt: it must be answered within a deadline (a download's
 * body then streams, bounded by the HTTP client's socket timeout instead).
 */
import { StoreError } from '../store-error.ts';

/** An abort signal that fires at `deadline` unless `disarm()` is called first. */
export interface AttemptTimer {
  readonly signal: AbortSignal;
  /** Stops the timer (for example once response headers arrived and a body streams). */
  disarm(): void;
}

/** Aborts at the epoch-millisecond `deadline`. */
export function deadlineTimer(deadline: number, what: string): AttemptTimer {
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort(new StoreError('timeout', `GCS did not answer in time for ${what}`));
  }, Math.max(0, deadline - Date.now()));
  return { signal: controller.signal, disarm: () => { clearTimeout(timer); } };
}
