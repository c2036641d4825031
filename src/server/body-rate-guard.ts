/**
 * A floor under the speed of a request body. Without it one byte every few seconds keeps
 * an upload, its connection and its memory open forever. Every window must bring at
 * least `minBytesPerSecond × window` bytes, and always at least one, or the body is
 * refused with 400 and nothing is stored.
 *
 * The stream is read with `read()` and one short-lived wait at a time. (Racing each read
 * against a promise that lives for the whole window would keep every chunk reachable
 * from that promise until the window ends: a fast upload would hold most of its body;
 * docs/memory.md tells the leak this was.)
 */
import type { Readable } from 'node:stream';
import { BadRequestError } from '../errors.ts';

export interface BodyRate {
  /** Bytes per second the body must keep up, averaged over each window; 0 checks only that bytes keep coming. */
  readonly minBytesPerSecond: number;
  readonly windowMs: number;
}

/**
 * Yields `source`'s chunks, throwing BadRequestError when a window brings too little.
 * `declaredLength` is the body's Content-Length, when it has one.
 */
export async function* rateGuarded(source: Readable, rate: BodyRate, declaredLength?: number): AsyncGenerator<Buffer> {
  // Looked at on the first read, once the body was let in: a body whose announced bytes
  // have all arrived by then (most small ones) has no pace to check, and is spared the
  // timer and the listeners. (IncomingMessage.complete is not set yet at that point.)
  if (declaredLength !== undefined && source.readableLength >= declaredLength) {
    for (let chunk = source.read() as Buffer | null; chunk !== null; chunk = source.read() as Buffer | null) yield chunk;
    return;
  }
  const needed = Math.max(1, Math.ceil((rate.minBytesPerSecond * rate.windowMs) / 1000));
  let windowBytes = 0;
  let tooSlow: BadRequestError | undefined;
  let failure: Error | undefined;
  let ended = source.readableEnded;
  let wake: (() => void) | undefined;
  const timer = setInterval(() => {
    if (windowBytes < needed) {
      tooSlow = new BadRequestError(
        `request body brought ${windowBytes} bytes in ${rate.windowMs} ms, under the minimum of ${rate.minBytesPerSecond} bytes/s ` +
          '(a stalled or very slow client); nothing was stored',
      );
      wake?.();
    }
    windowBytes = 0;
  }, rate.windowMs);
  const onReadable = (): void => { wake?.(); };
  const onEnd = (): void => { ended = true; wake?.(); };
  const onError = (error: Error): void => { failure = error; wake?.(); };
  const onClose = (): void => {
    if (!ended) failure ??= new Error('the connection closed before the body ended');
    wake?.();
  };
  source.on('readable', onReadable).on('end', onEnd).on('error', onError).on('close', onClose);
  try {
    for (;;) {
      for (let chunk = source.read() as Buffer | null; chunk !== null; chunk = source.read() as Buffer | null) {
        windowBytes += chunk.length;
        yield chunk;
        if (tooSlow !== undefined) throw tooSlow;
      }
      if (failure !== undefined) throw failure;
      if (ended) return;
      if (tooSlow !== undefined) throw tooSlow;
      await new Promise<void>((resolve) => { wake = resolve; });
      wake = undefined;
    }
  } finally {
    clearInterval(timer);
    source.off('readable', onReadable).off('end', onEnd).off('error', onError).off('close', onClose);
  }
}
