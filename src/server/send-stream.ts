/**
 * Streams a download into a response with backpressure. Plain `pipe` instead of
 * `stream.pipeline`: pipeline aborts an internal AbortController on every finish, and
 * building that DOMException showed as a visible share of the connector's CPU per GET in
 * a --cpu-prof run of bench/.
 */
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

/** Resolves when the whole body is sent; rejects (and destroys `source`) if either side fails first. */
export function sendStream(source: Readable, res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (error: Error): void => {
      source.unpipe(res);
      source.destroy();
      reject(error);
    };
    source.once('error', fail);
    res.once('close', () => {
      if (!res.writableFinished) fail(new Error('the client went away before the body was sent'));
    });
    res.once('finish', () => { resolve(); });
    source.pipe(res);
  });
}
