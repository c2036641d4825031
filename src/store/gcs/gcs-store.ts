/**
 * The ObjectStore on the GCS JSON API: one request per operation (uploads: one, or a
 * resumable session for large bodies), retried per retry.ts inside the operation's
 * deadline.
 *
 * Retries and what they can do twice:
 * - reads, stat, list, metadata updates: repeating them changes nothing;
 * - writes: every write carries a fresh upload id in its custom metadata. When a retry of
 *   a conditional write gets 412 after an earlier attempt failed in flight (its answer may
 *   have been lost after GCS stored it), the object is read back: if it carries our
 *   upload id and MD5, the write did land and succeeds. Unconditional (LWW) writes are
 *   retried too: a retry lands before the client gets its answer, so the write stays
 *   inside its own request's lifetime and "last write wins" still holds;
 * - deletes: a 404 after an attempt that failed in flight means ours landed.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { ConflictError, InternalError, KeyNotFoundError, UnavailableError } from '../../errors.ts';
import type {
  ListOptions,
  ListPage,
  ObjectAttributes,
  ObjectDownload,
  ObjectStore,
  UploadSource,
  WriteOptions,
} from '../object-store.ts';
import { deadlineTimer, stallGuarded } from './attempt-timer.ts';
import type { BlobSigner } from './credentials.ts';
import type { GcsCallContext } from './gcs-errors.ts';
import { isChunkList, type GcsCall, type GcsHttp } from './gcs-http.ts';
import { withRetries, type AttemptInfo, type RetryPolicy } from './retry.ts';
import { encodeRfc3986, signReadUrl } from './url-signer.ts';

/** Custom-metadata key carrying the id of the upload that wrote the object. */
export const UPLOAD_ID_KEY = 'asya-upload-id';

const OBJECT_FIELDS = 'name,size,generation,metageneration,contentType,updated,storageClass,md5Hash,metadata';

/** The JSON metadata part of an upload. */
interface UploadMetadata {
  readonly name: string;
  readonly contentType: string;
  readonly md5Hash: string;
  readonly metadata: Readonly<Record<typeof UPLOAD_ID_KEY, string>>;
}

interface GcsObjectResource {
  readonly name?: string;
  readonly size?: string;
  readonly generation?: string;
  readonly metageneration?: string;
  readonly contentType?: string;
  readonly updated?: string;
  readonly storageClass?: string;
  readonly md5Hash?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface GcsStoreOptions {
  readonly bucket: string;
  readonly http: GcsHttp;
  readonly signer: BlobSigner;
  /** Origin signed URLs point at: `https://storage.googleapis.com` or the emulator's. */
  readonly signingOrigin: string;
  readonly timeoutMs: number;
  readonly retry: RetryPolicy;
  readonly resumableThresholdBytes: number;
  /** Told of every retry: operation and the error that caused it. */
  readonly onRetry: (op: string, error: unknown) => void;
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
    if (download === undefined) throw new InternalError(`GCS answered 304 to an unconditional download of ${this.objectUrl(name)}`);
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
          throw new InternalError(`GCS answered the download of ${context.target} without x-goog-generation`);
        }
        const length = header(answer.headers, 'content-length');
        return {
          generation,
          size: length === undefined ? undefined : Number(length),
          contentType: header(answer.headers, 'content-type') ?? 'application/octet-stream',
          lastModified: header(answer.headers, 'last-modified'),
          md5Base64: /(?:^|,)\s*md5=([A-Za-z0-9+/=]+)/.exec(String(answer.headers['x-goog-hash'] ?? ''))?.[1],
          body: answer.body,
        };
      } finally {
        // The deadline covers the wait for headers; a streaming body is bounded by
        // the HTTP client's socket timeout (a stall), not by a total.
        timer.disarm();
      }
    });
  }

  async stat(name: string): Promise<ObjectAttributes> {
    return attributesOf(await this.#statResource(name));
  }

  async write(name: string, source: UploadSource, options: WriteOptions): Promise<ObjectAttributes> {
    const context = this.#context(name, options.ifGenerationMatch);
    const metadata: UploadMetadata = {
      name,
      contentType: options.contentType,
      md5Hash: source.md5Base64,
      metadata: { [UPLOAD_ID_KEY]: randomUUID() },
    };
    let query = `fields=${OBJECT_FIELDS}`;
    if (options.ifGenerationMatch !== undefined) query += `&ifGenerationMatch=${options.ifGenerationMatch}`;

    // Only transient failures are retried, so a retry means an earlier attempt may have
    // reached GCS and lost only its answer.
    let retries = 0;
    const noteRetry = (): void => { retries += 1; };
    try {
      const resource = source.size >= this.#options.resumableThresholdBytes
        ? await this.#resumableUpload(source, metadata, query, context, noteRetry)
        : await this.#retrying('write', Number.POSITIVE_INFINITY, () => this.#multipartUpload(source, metadata, query, context), noteRetry);
      return attributesOf(resource);
    } catch (error) {
      if (!(error instanceof ConflictError) || retries === 0) throw error;
      return this.#earlierAttemptLanded(metadata, error);
    }
  }

  /** A retried write met 412: it succeeded if the object is the one an earlier attempt stored. */
  async #earlierAttemptLanded(metadata: UploadMetadata, conflict: ConflictError): Promise<ObjectAttributes> {
    const current = await this.#statResource(metadata.name).catch(() => undefined);
    if (current?.metadata?.[UPLOAD_ID_KEY] === metadata.metadata[UPLOAD_ID_KEY] && current.md5Hash === metadata.md5Hash) {
      return attributesOf(current);
    }
    throw conflict;
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

  async list(options: ListOptions): Promise<ListPage> {
    const params = new URLSearchParams({
      prefix: options.prefix,
      maxResults: String(options.pageSize),
      fields: 'items(name),prefixes,nextPageToken',
    });
    if (options.delimiter !== undefined) params.set('delimiter', options.delimiter);
    if (options.pageToken !== undefined) params.set('pageToken', options.pageToken);
    const context = { target: `gs://${this.#options.bucket}/${options.prefix}*` };
    const page = await this.#jsonCall<{ items?: { name: string }[]; prefixes?: string[]; nextPageToken?: string }>(
      'list', 'GET', `${this.#bucketPath}/o?${params.toString()}`, context,
    );
    return {
      names: (page.items ?? []).map((item) => item.name),
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
      if (error instanceof KeyNotFoundError) {
        throw new UnavailableError(`bucket gs://${this.#options.bucket} does not exist; create it first (the connector never creates buckets)`);
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

  async #multipartUpload(
    source: UploadSource,
    metadata: UploadMetadata,
    query: string,
    context: GcsCallContext,
  ): Promise<GcsObjectResource> {
    const boundary = `asya-${randomUUID()}`;
    const head = Buffer.from(
      `--${boundary}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n${JSON.stringify(metadata)}\r\n` +
        `--${boundary}\r\ncontent-type: ${metadata.contentType}\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const path = `/upload${this.#bucketPath}/o?uploadType=multipart&${query}`;
    const headers = {
      'content-type': `multipart/related; boundary=${boundary}`,
      'content-length': String(head.length + source.size + tail.length),
    };
    const data = source.open(0);
    if (isChunkList(data)) {
      // In memory: sending and answering share one deadline; the chunks go out as they are, uncopied.
      const timer = deadlineTimer(this.#deadline(), context.target);
      try {
        return await this.#http.json<GcsObjectResource>(this.#call('write', 'POST', path, timer.signal, context, [head, ...data, tail], headers));
      } finally {
        timer.disarm();
      }
    }
    // From the spill file: bounded by stalls, not by a total.
    const controller = new AbortController();
    const stream = data;
    const parts = (async function* (): AsyncGenerator<Uint8Array> {
      yield head;
      for await (const chunk of stream) yield chunk as Uint8Array;
      yield tail;
    })();
    const body = Readable.from(stallGuarded(parts, this.#options.timeoutMs, controller, context.target), { objectMode: false });
    try {
      return await this.#http.json<GcsObjectResource>(this.#call('write', 'POST', path, controller.signal, context, body, headers));
    } finally {
      stream.destroy();
    }
  }

  async #resumableUpload(
    source: UploadSource,
    metadata: UploadMetadata,
    query: string,
    context: GcsCallContext,
    noteRetry: () => void,
  ): Promise<GcsObjectResource> {
    let session: string | undefined;
    return this.#retrying('write', Number.POSITIVE_INFINITY, async ({ attempt }) => {
      let offset = 0;
      if (session !== undefined && attempt > 1) {
        const status = await this.#sessionStatus(session, source.size, context);
        if ('resource' in status) return status.resource;
        if ('expired' in status) session = undefined;
        else offset = status.offset;
      }
      session ??= await this.#startSession(source, metadata, query, context);
      return this.#sendSession(session, source, offset, context);
    }, noteRetry);
  }

  async #startSession(source: UploadSource, metadata: UploadMetadata, query: string, context: GcsCallContext): Promise<string> {
    const timer = deadlineTimer(this.#deadline(), context.target);
    const call = this.#call('write', 'POST', `/upload${this.#bucketPath}/o?uploadType=resumable&${query}`, timer.signal, context,
      JSON.stringify(metadata), {
        'content-type': 'application/json; charset=UTF-8',
        'x-upload-content-type': metadata.contentType,
        'x-upload-content-length': String(source.size),
      });
    try {
      const answer = await this.#http.send(call);
      if (answer.status !== 200 && answer.status !== 201) await this.#http.fail(answer, call);
      await answer.dump();
      const location = header(answer.headers, 'location');
      if (location === undefined) throw new UnavailableError(`GCS started an upload of ${context.target} without a session URL`);
      // The session URL is on the API host; send it through the same pool.
      const url = new URL(location, this.#http.origin);
      return `${url.pathname}${url.search}`;
    } finally {
      timer.disarm();
    }
  }

  async #sendSession(session: string, source: UploadSource, offset: number, context: GcsCallContext): Promise<GcsObjectResource> {
    const controller = new AbortController();
    const data = source.open(offset);
    const body = Readable.from(stallGuarded(data, this.#options.timeoutMs, controller, context.target), { objectMode: false });
    const last = source.size - 1;
    const call = this.#call('write', 'PUT', session, controller.signal, context, body, {
      'content-length': String(source.size - offset),
      'content-range': `bytes ${offset}-${last}/${source.size}`,
    });
    try {
      const answer = await this.#http.send(call);
      if (answer.status === 308) {
        await answer.dump();
        throw new UnavailableError(`GCS took only part of the upload of ${context.target}; resuming`);
      }
      if (answer.status !== 200 && answer.status !== 201) await this.#http.fail(answer, call);
      return (await answer.json()) as GcsObjectResource;
    } finally {
      if (!isChunkList(data)) data.destroy();
    }
  }

  async #sessionStatus(
    session: string,
    size: number,
    context: GcsCallContext,
  ): Promise<{ resource: GcsObjectResource } | { offset: number } | { expired: true }> {
    const timer = deadlineTimer(this.#deadline(), context.target);
    const call = this.#call('write', 'PUT', session, timer.signal, context, null, { 'content-range': `bytes */${size}`, 'content-length': '0' });
    try {
      const answer = await this.#http.send(call);
      if (answer.status === 200 || answer.status === 201) return { resource: (await answer.json()) as GcsObjectResource };
      if (answer.status === 404 || answer.status === 410) {
        await answer.dump();
        return { expired: true };
      }
      if (answer.status !== 308) await this.#http.fail(answer, call);
      await answer.dump();
      const range = /^bytes=0-(\d+)$/.exec(header(answer.headers, 'range') ?? '');
      return { offset: range?.[1] === undefined ? 0 : Number(range[1]) + 1 };
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
  ): Promise<T> {
    return this.#retrying(op, deadline, async ({ deadline }) => {
      const timer = deadlineTimer(deadline, context.target);
      try {
        return await this.#http.json<T>(this.#call(op, method, path, timer.signal, context, body ?? null, headers));
      } finally {
        timer.disarm();
      }
    });
  }

  async #retrying<T>(op: string, deadline: number, attempt: (info: AttemptInfo) => Promise<T>, noteRetry?: () => void): Promise<T> {
    return withRetries(this.#options.retry, deadline, attempt, (error) => {
      this.#options.onRetry(op, error);
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

function attributesOf(resource: GcsObjectResource): ObjectAttributes {
  if (resource.name === undefined || resource.generation === undefined) {
    throw new InternalError('GCS answered an object without its name or generation');
  }
  return {
    name: resource.name,
    size: Number(resource.size ?? 0),
    generation: resource.generation,
    metageneration: resource.metageneration ?? '1',
    contentType: resource.contentType ?? 'application/octet-stream',
    updated: resource.updated,
    storageClass: resource.storageClass,
  };
}
