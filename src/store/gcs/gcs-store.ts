/**
 * The ObjectStore on the GCS JSON API: one request per operation, retried per retry.ts
 * inside the operation's deadline, writes included (docs/semantics.md, "Retries"). How a
 * body goes up is decided here: a body that came as one chunk is one multipart upload; a
 * longer one streams through a resumable session while it still arrives
 * (resumable-upload.ts). Both carry the whole body's MD5, which GCS checks.
 *
 * Retries and what they can do twice:
 * - reads, stat, list, metadata updates: repeating them changes nothing; a download
 *   whose body breaks after its headers went out resumes where it broke
 *   (resumed-download.ts);
 * - writes: every write carries a fresh upload id in its custom metadata. When a retry of
 *   a conditional write gets 412 after an earlier attempt failed in flight (its answer may
 *   have been lost after GCS stored it), the object is read back: if it carries our
 *   upload id and MD5, the write did land and succeeds. Unconditional (LWW) writes are
 *   retried too: a retry lands before the client gets its answer, so the write stays
 *   inside its own request's lifetime and "last write wins" still holds;
 * - deletes: a 404 after an attempt that failed in flight means ours landed.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type {
  BodyChunk,
  ListOptions,
  ListPage,
  ObjectAttributes,
  ObjectDownload,
  ObjectStore,
  UploadBody,
  WriteOptions,
} from '../object-store.ts';
import { deadlineTimer } from './attempt-timer.ts';
import type { BlobSigner } from './credentials.ts';
import { errorFromTransport, type GcsCallContext } from './gcs-errors.ts';
import { AnswerTooLargeError, type GcsAnswer, type GcsCall, type GcsHttp } from './gcs-http.ts';
import { attributesOf, OBJECT_FIELDS, type GcsObjectResource } from './object-resource.ts';
import { rangedBody, worthRanges, type RangeMemory } from './ranged-download.ts';
import { resumingBody } from './resumed-download.ts';
import { uploadChunked } from './resumable-upload.ts';
import { withRetries, type AttemptInfo, type RetryPolicy } from './retry.ts';
import { encodeRfc3986, signReadUrl } from './url-signer.ts';
import { isStoreError, StoreError } from '../store-error.ts';

/** Custom-metadata key carrying the id of the upload that wrote the object. */
const UPLOAD_ID_KEY = 'asya-upload-id';

/** The JSON metadata part of an upload. */
interface UploadMetadata {
  readonly name: string;
  readonly contentType: string;
  /** Known up front only for a body that came as one chunk. */
  readonly md5Hash?: string;
  readonly metadata: Readonly<Record<typeof UPLOAD_ID_KEY, string>>;
}

export interface GcsStoreOptions {
  readonly bucket: string;
  readonly http: GcsHttp;
  readonly signer: BlobSigner;
  /** Origin signed URLs point at: `https://storage.googleapis.com` or the emulator's. */
  readonly signingOrigin: string;
  readonly timeoutMs: number;
  readonly retry: RetryPolicy;
  /** Large downloads in parallel ranges (ranged-download.ts); undefined reads every object as one stream. */
  readonly ranges?: { readonly rangeBytes: number; readonly streams: number; readonly memory: RangeMemory } | undefined;
  /** Told of every retry: operation and the error that caused it. */
  readonly onRetry: (op: string, error: unknown, attempt: number) => void;
}

export class GcsObjectStore implements ObjectStore {
  readonly #options: GcsStoreOptions;
  readonly #http: GcsHttp;
  readonly #bucketPath: string;

  constructor(options: GcsStoreOptions) {
    this.#options = options;
    this.#http = options.http;
    this.#bucketPath = `/storage/v1/b/${encodeRfc3986(options.bucket)}`;
  }

  objectUrl(name: string): string {
    return `gs://${this.#options.bucket}/${name}`;
  }

  async read(name: string): Promise<ObjectDownload> {
    const download = await this.#download(name, undefined);
    if (download === undefined) throw new StoreError('broken', `GCS answered 304 to an unconditional download of ${this.objectUrl(name)}`);
    return download;
  }

  readIfChanged(name: string, generation: string): Promise<ObjectDownload | undefined> {
    return this.#download(name, generation);
  }

  async #download(name: string, ifGenerationNotMatch: string | undefined): Promise<ObjectDownload | undefined> {
    const context = this.#context(name);
    const query = ifGenerationNotMatch === undefined ? '?alt=media' : `?alt=media&ifGenerationNotMatch=${ifGenerationNotMatch}`;
    return this.#retrying('read', this.#deadline(), async ({ deadline }) => {
      const timer = deadlineTimer(deadline, context.target);
      const call = this.#call('read', 'GET', `${this.#objectPath(name)}${query}`, timer.signal, context);
      try {
        const answer = await this.#http.send(call);
        if (answer.status === 304 && ifGenerationNotMatch !== undefined) {
          await answer.dump();
          return undefined;
        }
        if (answer.status !== 200) await this.#http.fail(answer, call);
        const generation = header(answer.headers, 'x-goog-generation');
        if (generation === undefined) {
          answer.body.destroy();
          throw new StoreError('broken', `GCS answered the download of ${context.target} without x-goog-generation`);
        }
        const length = header(answer.headers, 'content-length');
        const size = length === undefined ? undefined : Number(length);
        const ranges = this.#options.ranges;
        const body = resumingBody(answer.body, {
          size,
          retry: this.#options.retry,
          target: context.target,
          mapError: (error) => errorFromTransport(error, context),
          resumeAt: (offset) => this.#readFrom(name, generation, offset),
          onResume: (error, failures) => { this.#options.onRetry('read', error, failures); },
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
    const context = this.#context(name);
    return this.#retrying('read', this.#deadline(), async ({ deadline }) => {
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
    const call = this.#call('read', 'GET', `${this.#objectPath(name)}?alt=media&generation=${generation}`, signal, context, null, { range });
    const answer = await this.#http.send(call);
    if (!ok.includes(answer.status)) await this.#http.fail(answer, call);
    return answer;
  }

  /** Copies bytes `start` to `end` of one generation into `target` (a part of a ranged download). */
  async #readRange(name: string, generation: string, start: number, end: number, target: Buffer, stop: AbortSignal): Promise<void> {
    const context = this.#context(name);
    return this.#retrying('read', this.#deadline(), async ({ deadline }) => {
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

  async stat(name: string): Promise<ObjectAttributes> {
    return attributesOf(await this.#statResource(name));
  }

  async write(name: string, body: UploadBody, options: WriteOptions): Promise<ObjectAttributes> {
    const context = this.#context(name, options.ifGenerationMatch);
    let query = `fields=${OBJECT_FIELDS}`;
    if (options.ifGenerationMatch !== undefined) query += `&ifGenerationMatch=${options.ifGenerationMatch}`;
    const first = await body.next();
    if (!first.last) return this.#writeStreamed(name, body, first, options.contentType, query, context);
    try {
      return await this.#writeWhole(name, first, options.contentType, query, context);
    } finally {
      body.done(first);
    }
  }

  /** A body of one chunk: one multipart request, sent again whole on a retry. */
  async #writeWhole(name: string, only: BodyChunk, contentType: string, query: string, context: GcsCallContext): Promise<ObjectAttributes> {
    if (only.md5Base64 === undefined) throw new StoreError('broken', `the body for ${context.target} came without its MD5`);
    const metadata: UploadMetadata = { name, contentType, md5Hash: only.md5Base64, metadata: { [UPLOAD_ID_KEY]: randomUUID() } };
    return this.#landedOnce(metadata, (noteRetry) =>
      this.#retrying('write', this.#deadline(), ({ deadline }) => this.#multipartUpload(only, metadata, query, context, deadline), noteRetry));
  }

  /** A body still arriving: a resumable session. A lost answer needs no read-back here: the session itself says whether it finalized. */
  async #writeStreamed(name: string, body: UploadBody, first: BodyChunk, contentType: string, query: string, context: GcsCallContext): Promise<ObjectAttributes> {
    const metadata: UploadMetadata = { name, contentType, metadata: { [UPLOAD_ID_KEY]: randomUUID() } };
    const resource = await uploadChunked(
      { http: this.#http, retry: this.#options.retry, timeoutMs: this.#options.timeoutMs, context, onRetry: (error, failedAttempt) => { this.#options.onRetry('write', error, failedAttempt); } },
      { path: `/upload${this.#bucketPath}/o?uploadType=resumable&${query}`, metadataJson: JSON.stringify(metadata), contentType },
      body,
      first,
    );
    return attributesOf(resource);
  }

  /**
   * Runs `write`, which stores `metadata`'s object in one request, retried. Only transient
   * failures are retried, so a retry means an earlier attempt may have reached GCS and lost
   * only its answer; a conditional retry then meets 412 although the write landed. The
   * object is read back: if it carries our upload id and MD5, the write succeeded. If the
   * read-back fails too, the outcome is unknown: `unavailable`, not a conflict, which
   * would tell the caller another writer got in.
   */
  async #landedOnce(metadata: UploadMetadata, write: (noteRetry: () => void) => Promise<GcsObjectResource>): Promise<ObjectAttributes> {
    let retries = 0;
    try {
      return attributesOf(await write(() => { retries += 1; }));
    } catch (error) {
      if (!isStoreError(error, 'exists', 'changed') || retries === 0) throw error;
      let current: GcsObjectResource | undefined;
      try {
        current = await this.#statResource(metadata.name);
      } catch (readBack) {
        if (!isStoreError(readBack, 'not_found')) {
          throw new StoreError(
            'unavailable',
            `an attempt to write ${this.objectUrl(metadata.name)} may have landed with its answer lost, and reading it back failed ` +
              `(${readBack instanceof Error ? readBack.message : String(readBack)}); read the key to see which version it holds`,
            { cause: readBack, backend: isStoreError(readBack) ? readBack.backend : undefined },
          );
        }
      }
      if (current?.metadata?.[UPLOAD_ID_KEY] === metadata.metadata[UPLOAD_ID_KEY] && current.md5Hash === metadata.md5Hash) return attributesOf(current);
      throw error;
    }
  }

  async remove(name: string, ifGenerationMatch?: string): Promise<void> {
    const context = this.#context(name, ifGenerationMatch);
    const query = ifGenerationMatch === undefined ? '' : `?ifGenerationMatch=${ifGenerationMatch}`;
    await this.#retrying('delete', this.#deadline(), async ({ attempt, deadline }) => {
      const timer = deadlineTimer(deadline, context.target);
      const call = this.#call('delete', 'DELETE', `${this.#objectPath(name)}${query}`, timer.signal, context);
      try {
        const answer = await this.#http.send(call);
        // After an attempt lost in flight, "already gone" means that attempt deleted it.
        if (answer.status === 404 && attempt > 1) {
          await answer.dump();
          return;
        }
        if (answer.status !== 204 && answer.status !== 200) await this.#http.fail(answer, call);
        await answer.dump();
      } finally {
        timer.disarm();
      }
    });
  }

  /**
   * A page of at most `options.pageSize` names. An answer past MAX_JSON_ANSWER_BYTES (long
   * names, or a backend that ignores `fields`) is asked again for a quarter of the names,
   * so a page held in memory stays within what a listing is charged (memory-costs.ts).
   */
  async list(options: ListOptions): Promise<ListPage> {
    for (let pageSize = options.pageSize; ; pageSize = Math.ceil(pageSize / 4)) {
      try {
        return await this.#listPage(options, pageSize);
      } catch (error) {
        if (!(error instanceof AnswerTooLargeError)) throw error;
        if (pageSize === 1) throw new StoreError('unavailable', `${error.message}, even for one name; the listing cannot be held`);
      }
    }
  }

  async #listPage(options: ListOptions, pageSize: number): Promise<ListPage> {
    const params = new URLSearchParams({
      prefix: options.prefix,
      maxResults: String(pageSize),
      fields: 'items(name,size),prefixes,nextPageToken',
    });
    if (options.delimiter !== undefined) params.set('delimiter', options.delimiter);
    if (options.pageToken !== undefined) params.set('pageToken', options.pageToken);
    const context = { target: `gs://${this.#options.bucket}/${options.prefix}*` };
    const page = await this.#jsonCall<{ items?: { name: string; size?: string }[]; prefixes?: string[]; nextPageToken?: string }>(
      'list', 'GET', `${this.#bucketPath}/o?${params.toString()}`, context,
    );
    return {
      objects: (page.items ?? []).map((item) => ({ name: item.name, size: Number(item.size ?? 0) })),
      prefixes: page.prefixes ?? [],
      nextPageToken: page.nextPageToken === '' ? undefined : page.nextPageToken,
    };
  }

  async setContentType(name: string, contentType: string): Promise<ObjectAttributes> {
    const resource = await this.#jsonCall<GcsObjectResource>(
      'patch', 'PATCH', `${this.#objectPath(name)}?fields=${OBJECT_FIELDS}`, this.#context(name),
      JSON.stringify({ contentType }), { 'content-type': 'application/json' },
    );
    return attributesOf(resource);
  }

  async signedReadUrl(name: string, ttlSeconds: number): Promise<string> {
    return signReadUrl(
      { origin: this.#options.signingOrigin, bucket: this.#options.bucket, object: name, ttlSeconds, now: new Date() },
      this.#options.signer,
    );
  }

  async probe(prefix: string, timeoutMs: number): Promise<void> {
    const params = new URLSearchParams({ prefix, maxResults: '1', fields: 'nextPageToken' });
    try {
      await this.#jsonCall('probe', 'GET', `${this.#bucketPath}/o?${params.toString()}`, { target: `gs://${this.#options.bucket}` },
        undefined, undefined, Date.now() + timeoutMs);
    } catch (error) {
      // Listing answers 404 only when the bucket itself is missing.
      if (isStoreError(error, 'not_found')) {
        throw new StoreError('unavailable', `bucket gs://${this.#options.bucket} does not exist; create it first (the connector never creates buckets)`);
      }
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.#http.close();
  }

  async #statResource(name: string): Promise<GcsObjectResource> {
    return this.#jsonCall<GcsObjectResource>('stat', 'GET', `${this.#objectPath(name)}?fields=${OBJECT_FIELDS}`, this.#context(name));
  }

  /** One request carrying the metadata and the bytes; sending and answering share one deadline. */
  async #multipartUpload(body: BodyChunk, metadata: UploadMetadata, query: string, context: GcsCallContext, deadline: number): Promise<GcsObjectResource> {
    // The upload's own random id serves as the boundary: random enough not to occur in the body, one UUID fewer per write.
    const boundary = `asya-${metadata.metadata[UPLOAD_ID_KEY]}`;
    const head = Buffer.from(
      `--${boundary}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n${JSON.stringify(metadata)}\r\n` +
        `--${boundary}\r\ncontent-type: ${metadata.contentType}\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const headers = {
      'content-type': `multipart/related; boundary=${boundary}`,
      'content-length': String(head.length + body.size + tail.length),
    };
    const timer = deadlineTimer(deadline, context.target);
    try {
      // The received buffers go out as they are, uncopied.
      const call = this.#call('write', 'POST', `/upload${this.#bucketPath}/o?uploadType=multipart&${query}`, timer.signal, context, [head, ...body.buffers, tail], headers);
      return await this.#http.json<GcsObjectResource>(call);
    } finally {
      timer.disarm();
    }
  }

  async #jsonCall<T>(
    op: string,
    method: GcsCall['method'],
    path: string,
    context: GcsCallContext,
    body?: string,
    headers?: Record<string, string>,
    deadline = this.#deadline(),
    noteRetry?: () => void,
  ): Promise<T> {
    return this.#retrying(op, deadline, async ({ deadline }) => {
      const timer = deadlineTimer(deadline, context.target);
      try {
        return await this.#http.json<T>(this.#call(op, method, path, timer.signal, context, body ?? null, headers));
      } finally {
        timer.disarm();
      }
    }, noteRetry);
  }

  async #retrying<T>(op: string, deadline: number, attempt: (info: AttemptInfo) => Promise<T>, noteRetry?: () => void): Promise<T> {
    return withRetries(this.#options.retry, deadline, attempt, (error, failedAttempt) => {
      this.#options.onRetry(op, error, failedAttempt);
      noteRetry?.();
    });
  }

  #call(
    op: string,
    method: GcsCall['method'],
    path: string,
    signal: AbortSignal,
    context: GcsCallContext,
    body: GcsCall['body'] = null,
    headers: Record<string, string> = {},
  ): GcsCall {
    return { op, method, path, signal, context, body, headers };
  }

  #deadline(): number {
    return Date.now() + this.#options.timeoutMs;
  }

  #objectPath(name: string): string {
    return `${this.#bucketPath}/o/${encodeRfc3986(name)}`;
  }

  #context(name: string, ifGenerationMatch?: string): GcsCallContext {
    return { target: this.objectUrl(name), ifGenerationMatch };
  }
}

function header(headers: Readonly<Record<string, string | string[] | undefined>>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
