/**
 * Reading an object from GCS: one GET, whose body resumes where it breaks
 * (resumed-download.ts) and, when the object is large, is read in parallel ranges
 * (ranged-download.ts). Every later request is pinned to the generation the first
 * answered, so the bytes are all of one version.
 */
import type { Readable } from 'node:stream';
import type { ObjectDownload } from '../object-store.ts';
import { StoreError } from '../store-error.ts';
import { deadlineTimer } from './attempt-timer.ts';
import type { GcsCalls } from './gcs-calls.ts';
import { errorFromTransport, type GcsCallContext } from './gcs-errors.ts';
import type { GcsAnswer } from './gcs-http.ts';
import { rangedBody, worthRanges, type RangeMemory } from './ranged-download.ts';
import { resumingBody } from './resumed-download.ts';

/** Large downloads in parallel ranges of `rangeBytes`, `streams` at once, held in `memory`. */
export interface RangeSettings {
  readonly rangeBytes: number;
  readonly streams: number;
  readonly memory: RangeMemory;
}

export class GcsDownloads {
  readonly #calls: GcsCalls;
  readonly #ranges: RangeSettings | undefined;

  /** Without `ranges`, every object is read as one stream. */
  constructor(calls: GcsCalls, ranges: RangeSettings | undefined) {
    this.#calls = calls;
    this.#ranges = ranges;
  }

  /** The object's bytes; undefined when `ifGenerationNotMatch` is given and the object is still at it. */
  async read(name: string, ifGenerationNotMatch: string | undefined): Promise<ObjectDownload | undefined> {
    const calls = this.#calls;
    const context = calls.context(name);
    const query = ifGenerationNotMatch === undefined ? '?alt=media' : `?alt=media&ifGenerationNotMatch=${ifGenerationNotMatch}`;
    return calls.retrying('read', calls.deadline(), async ({ deadline }) => {
      const timer = deadlineTimer(deadline, context.target);
      const call = { op: 'read', method: 'GET' as const, path: `${calls.objectPath(name)}${query}`, signal: timer.signal, context };
      try {
        const answer = await calls.http.send(call);
        if (answer.status === 304 && ifGenerationNotMatch !== undefined) {
          await answer.dump();
          return undefined;
        }
        if (answer.status !== 200) await calls.http.fail(answer, call);
        const generation = header(answer.headers, 'x-goog-generation');
        if (generation === undefined) {
          answer.body.destroy();
          throw new StoreError('broken', `GCS answered the download of ${context.target} without x-goog-generation`);
        }
        const length = header(answer.headers, 'content-length');
        const size = length === undefined ? undefined : Number(length);
        const ranges = this.#ranges;
        const body = resumingBody(answer.body, {
          size,
          retry: calls.retry,
          target: context.target,
          mapError: (error) => errorFromTransport(error, context),
          resumeAt: (offset) => this.#readFrom(name, generation, offset),
          onResume: (error, failures) => { calls.retried('read', error, failures); },
        });
        return {
          generation,
          size,
          contentType: header(answer.headers, 'content-type') ?? 'application/octet-stream',
          lastModified: header(answer.headers, 'last-modified'),
          md5Base64: /(?:^|,)\s*md5=([A-Za-z0-9+/=]+)/.exec(String(answer.headers['x-goog-hash'] ?? ''))?.[1],
          body: ranges === undefined || size === undefined || !worthRanges(size, ranges)
            ? body
            : rangedBody(body, size, { ...ranges, fetchRange: (start, end, target, signal) => this.#readRange(name, generation, start, end, target, signal) }),
        };
      } finally {
        // The deadline covers the wait for headers; a streaming body is bounded by
        // the HTTP client's socket timeout (a stall), not by a total.
        timer.disarm();
      }
    });
  }

  /** The bytes of one generation from `offset` to the end: the rest of a download whose stream broke. */
  async #readFrom(name: string, generation: string, offset: number): Promise<Readable> {
    const context = this.#calls.context(name);
    return this.#calls.retrying('read', this.#calls.deadline(), async ({ deadline }) => {
      const timer = deadlineTimer(deadline, context.target);
      try {
        // From byte 0 the whole object is the right answer too.
        return (await this.#pinnedGet(name, generation, `bytes=${offset}-`, timer.signal, context, offset === 0 ? [206, 200] : [206])).body;
      } finally {
        timer.disarm();
      }
    });
  }

  /** One GET of `range` of one generation; a status outside `ok` throws the mapped error. */
  async #pinnedGet(name: string, generation: string, range: string, signal: AbortSignal, context: GcsCallContext, ok: readonly number[]): Promise<GcsAnswer> {
    const call = { op: 'read', method: 'GET' as const, path: `${this.#calls.objectPath(name)}?alt=media&generation=${generation}`, signal, context, headers: { range } };
    const answer = await this.#calls.http.send(call);
    if (!ok.includes(answer.status)) await this.#calls.http.fail(answer, call);
    return answer;
  }

  /** Copies bytes `start` to `end` of one generation into `target` (a part of a ranged download). */
  async #readRange(name: string, generation: string, start: number, end: number, target: Buffer, stop: AbortSignal): Promise<void> {
    const context = this.#calls.context(name);
    return this.#calls.retrying('read', this.#calls.deadline(), async ({ deadline }) => {
      stop.throwIfAborted();
      const timer = deadlineTimer(deadline, context.target);
      try {
        const answer = await this.#pinnedGet(name, generation, `bytes=${start}-${end}`, AbortSignal.any([timer.signal, stop]), context, [206]);
        const expected = end - start + 1;
        let length = 0;
        for await (const chunk of answer.body as AsyncIterable<Buffer>) {
          if (length + chunk.length > expected) break;
          chunk.copy(target, length);
          length += chunk.length;
        }
        if (length !== expected) {
          answer.body.destroy();
          throw new StoreError('unavailable', `GCS answered other than ${expected} bytes for bytes ${start}-${end} of ${context.target}`);
        }
      } catch (error) {
        // A stopped download is not retried; a transfer cut mid-range is.
        if (stop.aborted) throw stop.reason;
        throw errorFromTransport(error, context);
      } finally {
        timer.disarm();
      }
    });
  }
}

function header(headers: Readonly<Record<string, string | string[] | undefined>>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
