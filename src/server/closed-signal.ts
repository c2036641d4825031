/** A signal for "the client left": aborts when the response closes before it finished. */
import type { ServerResponse } from 'node:http';
import { ClientAbortedError } from '../errors.ts';

/** Aborts with a ClientAbortedError carrying `message` when `res` closes unfinished. */
export function closedSignal(res: ServerResponse, message: string): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort(new ClientAbortedError(message));
  });
  return controller.signal;
}
