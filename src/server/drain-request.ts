/**
 * Reads and discards what is left of a request body before an error is answered, when
 * that is little. Answering and closing with the client's bytes still unread makes the
 * kernel reset the connection, and a client that sent its whole body before reading (as
 * Python's http.client does) then loses the answer. A large or endless rest is not worth
 * reading: the connection is closed instead.
 */
import type { IncomingMessage } from 'node:http';

/** At most this much of a refused body is read to keep its answer deliverable. */
const DRAIN_LIMIT_BYTES = 1024 * 1024;
const DRAIN_TIMEOUT_MS = 2000;

/** Resolves true when the request body has been read to its end, false when it was not worth it. */
export function drainRequest(req: IncomingMessage): Promise<boolean> {
  if (req.complete) return Promise.resolve(true);
  // A client waiting for 100 Continue has not sent its body: nothing to drain, and waiting would stall it.
  if (/100-continue/i.test(req.headers.expect ?? '')) return Promise.resolve(false);
  // A declared length over the limit is not read at all; a chunked body is read up to the limit.
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > DRAIN_LIMIT_BYTES || req.readableEnded || req.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    let read = 0;
    const done = (drained: boolean): void => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onError);
      resolve(drained);
    };
    const onData = (chunk: Buffer): void => {
      read += chunk.length;
      if (read > DRAIN_LIMIT_BYTES) done(false);
    };
    const onEnd = (): void => { done(true); };
    const onError = (): void => { done(false); };
    const timer = setTimeout(() => { done(false); }, DRAIN_TIMEOUT_MS);
    req.on('data', onData).on('end', onEnd).on('error', onError);
    req.resume();
  });
}
