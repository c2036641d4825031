/**
 * A body streamed into a GCS resumable upload session while it is still arriving: each
 * chunk goes out as soon as it is complete, while the next one is received. Only the last
 * chunk finalizes the object, so a body that fails part-way leaves nothing: the session
 * is cancelled (and one left unfinalized creates nothing either).
 *
 * Protocol (GCS JSON API, resumable uploads): every chunk but the last is a multiple of
 * 256 KiB, sent as `Content-Range: bytes a-b/*` (`/total` when the client announced the
 * size); GCS answers 308 with `Range: bytes=0-n`, what it has persisted. The last chunk
 * carries the total and `x-goog-hash: md5=` of the whole body, which GCS checks before
 * it creates the object; preconditions given when the session opened are checked then
 * too. After a transient failure the session is asked how far it got and only the rest
 * is sent. Bytes GCS lost that the connector no longer holds cannot be sent again: the
 * upload then fails (`unavailable`) and nothing is stored.
 */
import { StoreError } from '../store-error.ts';
import type { BodyChunk, UploadBody } from '../object-store.ts';
import { deadlineTimer } from './attempt-timer.ts';
import type { GcsCallContext } from './gcs-errors.ts';
import type { GcsCalls } from './gcs-calls.ts';
import type { GcsAnswer, GcsCall } from './gcs-http.ts';
import type { GcsObjectResource } from './object-resource.ts';

export interface SessionOptions {
  /** The bucket's calls; their deadline bounds opening the session, and each chunk reaching GCS, retries included. */
  readonly calls: GcsCalls;
  readonly context: GcsCallContext;
}

/** The request that opens a session: its path and query (preconditions included) and the object's JSON metadata. */
export interface SessionStart {
  readonly path: string;
  readonly metadataJson: string;
  readonly contentType: string;
}

/** What GCS said of a chunk or of the session: finalized, bytes persisted so far, or gone. */
type SessionState = { readonly resource: GcsObjectResource } | { readonly persisted: number } | { readonly lost: string };

const CANCEL_TIMEOUT_MS = 5_000;

/** Uploads `body`, whose `first` chunk was already taken, chunk by chunk through a new session; answers the stored object. */
export async function uploadChunked(options: SessionOptions, start: SessionStart, body: UploadBody, first: BodyChunk): Promise<GcsObjectResource> {
  let session: string;
  try {
    session = await openSession(options, start, body.declaredSize);
  } catch (error) {
    body.done(first);
    throw error;
  }
  let previous: Promise<unknown> | undefined;
  let next: BodyChunk | undefined = first;
  try {
    for (;;) {
      // Receiving this chunk overlapped with sending the one before.
      const chunk = next ?? await body.next();
      next = undefined;
      if (previous !== undefined) await previous;
      const sending = sendChunk(options, session, body.declaredSize, chunk).finally(() => { body.done(chunk); });
      if (chunk.last) {
        const resource = await sending;
        if (resource === undefined) throw new StoreError('broken', `GCS did not finalize ${options.context.target} on its last chunk`);
        return resource;
      }
      previous = sending;
      // Its failure is taken when it is awaited; until then it is not unhandled.
      sending.catch(() => undefined);
    }
  } catch (error) {
    await cancelSession(options, session);
    throw error;
  }
}

async function openSession(options: SessionOptions, start: SessionStart, declaredSize: number | undefined): Promise<string> {
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=UTF-8',
    'x-upload-content-type': start.contentType,
  };
  if (declaredSize !== undefined) headers['x-upload-content-length'] = String(declaredSize);
  return options.calls.retrying('write', options.calls.deadline(), async ({ deadline }) => {
    const timer = deadlineTimer(deadline, options.context.target);
    const call = callOf(options, 'POST', start.path, timer.signal, start.metadataJson, headers);
    try {
      const answer = await options.calls.http.send(call);
      if (answer.status !== 200 && answer.status !== 201) await options.calls.http.fail(answer, call);
      await answer.dump();
      const location = answer.headers.location;
      if (location === undefined) throw new StoreError('unavailable', `GCS opened an upload session for ${options.context.target} without its URL`);
      // The session URL is on the API host; it goes through the same connection pool.
      const url = new URL(location, options.calls.http.origin);
      return `${url.pathname}${url.search}`;
    } finally {
      timer.disarm();
    }
  });
}

/** Sends one chunk until GCS has all of it; answers the object when the chunk was the last. */
async function sendChunk(options: SessionOptions, session: string, declaredSize: number | undefined, chunk: BodyChunk): Promise<GcsObjectResource | undefined> {
  const end = chunk.offset + chunk.size;
  const total = declaredSize ?? (chunk.last ? end : undefined);
  let from = chunk.offset;
  // A chunk, its retries included, must reach GCS within one deadline.
  const state = await options.calls.retrying<SessionState>('write', options.calls.deadline(), async ({ attempt, deadline }) => {
    if (attempt > 1) {
      // The failed attempt may have delivered part of the chunk, or all of it.
      const status = await sessionStatus(options, session, total, deadline);
      if (!('persisted' in status)) return status;
      if (status.persisted < chunk.offset) return { lost: `GCS holds ${status.persisted} bytes of the upload, fewer than the ${chunk.offset} it had confirmed` };
      from = Math.min(status.persisted, end);
    }
    for (;;) {
      if (from === end && !chunk.last) return { persisted: end };
      const answer = await putRange(options, session, chunk, from, total, deadline);
      if (!('persisted' in answer)) return answer;
      // GCS may persist less than it was sent; the rest goes again.
      if (answer.persisted <= from) throw new StoreError('unavailable', `GCS took none of the bytes from ${from} of ${options.context.target}; resuming`);
      from = Math.min(answer.persisted, end);
    }
  });
  if ('lost' in state) throw new StoreError('unavailable', `${state.lost} for ${options.context.target}; the upload cannot go on and nothing was stored`);
  if ('resource' in state) {
    if (!chunk.last) throw new StoreError('broken', `GCS finalized ${options.context.target} before its last chunk`);
    return state.resource;
  }
  return undefined;
}

/** One PUT of the chunk's bytes from `from` to its end. */
async function putRange(options: SessionOptions, session: string, chunk: BodyChunk, from: number, total: number | undefined, deadline: number): Promise<SessionState> {
  const end = chunk.offset + chunk.size;
  const headers: Record<string, string> = {
    'content-length': String(end - from),
    'content-range': from === end ? `bytes */${total ?? '*'}` : `bytes ${from}-${end - 1}/${total ?? '*'}`,
  };
  if (chunk.last && chunk.md5Base64 !== undefined) headers['x-goog-hash'] = `md5=${chunk.md5Base64}`;
  const timer = deadlineTimer(deadline, options.context.target);
  const call = callOf(options, 'PUT', session, timer.signal, buffersFrom(chunk.buffers, from - chunk.offset), headers);
  try {
    return await stateOf(options, await options.calls.http.send(call), call);
  } finally {
    timer.disarm();
  }
}

/** Asks the session how many bytes GCS holds, or whether it already finalized. */
async function sessionStatus(options: SessionOptions, session: string, total: number | undefined, deadline: number): Promise<SessionState> {
  const timer = deadlineTimer(deadline, options.context.target);
  const call = callOf(options, 'PUT', session, timer.signal, null, { 'content-length': '0', 'content-range': `bytes */${total ?? '*'}` });
  try {
    return await stateOf(options, await options.calls.http.send(call), call);
  } finally {
    timer.disarm();
  }
}

async function stateOf(options: SessionOptions, answer: GcsAnswer, call: GcsCall): Promise<SessionState> {
  if (answer.status === 200 || answer.status === 201) return { resource: (await answer.json()) as GcsObjectResource };
  if (answer.status === 404 || answer.status === 410) {
    await answer.dump();
    return { lost: `GCS no longer knows the upload session (HTTP ${answer.status})` };
  }
  if (answer.status !== 308) return options.calls.http.fail(answer, call);
  await answer.dump();
  const range = /^bytes=0-(\d+)$/.exec(answer.headers.range ?? '');
  return { persisted: range?.[1] === undefined ? 0 : Number(range[1]) + 1 };
}

/** Tells GCS to drop the session; best effort (an unfinalized session creates nothing anyway). */
async function cancelSession(options: SessionOptions, session: string): Promise<void> {
  const timer = deadlineTimer(Date.now() + Math.min(options.calls.timeoutMs, CANCEL_TIMEOUT_MS), options.context.target);
  try {
    const answer = await options.calls.http.send(callOf(options, 'DELETE', session, timer.signal, null, { 'content-length': '0' }));
    await answer.dump();
  } catch {
    // The session expires on its own.
  } finally {
    timer.disarm();
  }
}

function callOf(options: SessionOptions, method: GcsCall['method'], path: string, signal: AbortSignal, body: NonNullable<GcsCall['body']> | null, headers: Record<string, string>): GcsCall {
  return { op: 'write', method, path, signal, context: options.context, body, headers };
}

/** The buffers from byte `skip` on, as views (no copies). */
function buffersFrom(buffers: readonly Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  let left = skip;
  for (const buffer of buffers) {
    if (left >= buffer.length) {
      left -= buffer.length;
      continue;
    }
    out.push(left === 0 ? buffer : buffer.subarray(left));
    left = 0;
  }
  return out;
}
