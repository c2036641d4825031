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
import { isTransient, StoreError } from '../store-error.ts';
import type { RetryPolicy } from './retry.ts';

export interface ResumeOptions {
  /** The object's length when GCS said it; a body ending before it is a break. */
  readonly size: number | undefined;
  readonly retry: RetryPolicy;
  /** Maps what the stream threw to a store error (transient ones are resumed). */
  readonly mapError: (error: unknown) => unknown;
  /** The body from byte `offset` to the end, of the generation the download started with. */
  readonly resumeAt: (offset: number) => Promise<Readable>;
  /** Told of every resume and the break that caused it. */
  readonly onResume: (error: unknown, attempt: number) => void;
  /** What the object is, for the message of a short body. */
  readonly target: string;
}

/**
 * `first`, continued from where it broke. Chunks are passed on as they come, with no
 * promise per chunk: this sits on every download, so its cost is that of one push.
 */
export function resumingBody(first: Readable, options: ResumeOptions): Readable {
  let source = first;
  let received = 0;
  let failures = 0;
  let detach = (): void => undefined;
  const body = new Readable({
    // resume() schedules a tick even on a flowing stream: only a paused one is resumed.
    read() { if (source.isPaused()) source.resume(); },
    destroy(error, callback) {
      detach();
      source.destroy();
      callback(error);
    },
  });

  // Each source settles once: the first of end, error or close detaches all four listeners.
  const follow = (stream: Readable): void => {
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      failures = 0;
      if (!body.push(chunk)) stream.pause();
    };
    const onEnd = (): void => {
      detach();
      if (options.size === undefined || received >= options.size) body.push(null);
      else void broke(new StoreError('unavailable', `GCS ended the download of ${options.target} after ${received} of ${options.size} bytes`));
    };
    const onError = (error: Error): void => {
      detach();
      void broke(error);
    };
    // A connection closed before the end, with no error: a break all the same.
    const onClose = (): void => { onError(new StoreError('unavailable', `GCS closed the download of ${options.target} after ${received} bytes`)); };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
    stream.once('close', onClose);
    detach = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
  };

  // Read after each wait: the reader may leave at any time.
  const readerGone = (): boolean => body.destroyed;
  const broke = async (thrown: unknown): Promise<void> => {
    source.destroy();
    const error = options.mapError(thrown);
    failures += 1;
    if (!isTransient(error) || failures >= options.retry.maxAttempts) {
      body.destroy(error as Error);
      return;
    }
    options.onResume(error, failures);
    await sleep(fullJitterDelay(failures, options.retry.baseDelayMs, options.retry.maxDelayMs, Math.random));
    // A reader that left while we waited needs no more bytes.
    if (readerGone()) return;
    let next: Readable;
    try {
      next = await options.resumeAt(received);
    } catch (error) {
      body.destroy(error as Error);
      return;
    }
    if (readerGone()) {
      next.destroy();
      return;
    }
    source = next;
    follow(next);
  };

  follow(first);
  return body;
}
