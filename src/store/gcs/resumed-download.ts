/**
 * A download body that survives a broken stream. The answer's headers are already on
 * their way to the client when GCS cuts the body (a reset, a stall the socket timer ends,
 * a connection closed early), so a retry of the whole GET is no longer possible; instead
 * the rest is asked for with `Range: bytes=<received>-`, pinned to the generation the
 * download started with. An overwrite in between makes that generation disappear: the
 * resume fails and the body is cut (an error, never a short body that looks whole).
 *
 * Each break gets up to `maxAttempts - 1` resumes in a row; any bytes received reset the
 * count, so a long download on a flaky network keeps going while a dead one stops.
 */
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fullJitterDelay } from '../../backoff.ts';
import { UnavailableError } from '../../errors.ts';
import { isTransient } from './gcs-errors.ts';
import type { RetryPolicy } from './retry.ts';

export interface ResumeOptions {
  /** The object's length when GCS said it; a body ending before it is a break. */
  readonly size: number | undefined;
  readonly retry: RetryPolicy;
  /** Maps what the stream threw to a connector error (transient ones are resumed). */
  readonly mapError: (error: unknown) => unknown;
  /** The body from byte `offset` to the end, of the generation the download started with. */
  readonly resumeAt: (offset: number) => Promise<Readable>;
  /** Told of every resume and the break that caused it. */
  readonly onResume: (error: unknown, attempt: number) => void;
  /** What the object is, for the message of a short body. */
  readonly target: string;
}

/** `first`, continued from where it broke. */
export function resumingBody(first: Readable, options: ResumeOptions): Readable {
  return Readable.from(continued(first, options), { objectMode: false });
}

async function* continued(first: Readable, options: ResumeOptions): AsyncGenerator<Buffer> {
  let source = first;
  let chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let received = 0;
  let failures = 0;
  try {
    for (;;) {
      // Only reading from GCS is guarded: what the reader throws in at `yield` (it went
      // away) must end the download, not resume it.
      let next: IteratorResult<Buffer>;
      try {
        next = await chunks.next();
        if (next.done === true && options.size !== undefined && received < options.size) {
          throw new UnavailableError(`GCS ended the download of ${options.target} after ${received} of ${options.size} bytes`);
        }
      } catch (thrown) {
        source.destroy();
        const error = options.mapError(thrown);
        failures += 1;
        if (!isTransient(error) || failures >= options.retry.maxAttempts) throw error;
        options.onResume(error, failures);
        await sleep(fullJitterDelay(failures, options.retry.baseDelayMs, options.retry.maxDelayMs, Math.random));
        source = await options.resumeAt(received);
        chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
        continue;
      }
      if (next.done === true) return;
      received += next.value.length;
      failures = 0;
      yield next.value;
    }
  } finally {
    source.destroy();
  }
}
