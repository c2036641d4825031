/**
 * Timing of one GCS request attempt. A metadata call must be answered within a deadline;
 * a transfer may take as long as it keeps moving, so its limit is a stall, not a total.
 */
import type { Readable } from 'node:stream';
import { DeadlineExceededError } from '../../errors.ts';

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
    controller.abort(new DeadlineExceededError(`GCS did not answer in time for ${what}`));
  }, Math.max(0, deadline - Date.now()));
  return { signal: controller.signal, disarm: () => { clearTimeout(timer); } };
}

/**
 * Yields `source` and aborts the request when no chunk was taken for `stallMs`: the
 * backend stopped reading. Once the last chunk is taken the guard is disarmed (the
 * HTTP client's socket timeout then bounds the wait for the answer).
 */
export async function* stallGuarded(
  source: Readable | AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  stallMs: number,
  controller: AbortController,
  what: string,
): AsyncGenerator<Uint8Array> {
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      controller.abort(new DeadlineExceededError(`GCS stopped taking the body of ${what} for ${stallMs} ms`));
    }, stallMs);
  };
  try {
    arm();
    for await (const chunk of source as AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
      yield chunk;
      arm();
    }
  } finally {
    clearTimeout(timer);
  }
}
