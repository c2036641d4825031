/**
 * The ObjectStore on the GCS JSON API: one request per operation, retried inside the
 * operation's deadline (gcs-calls.ts, retry.ts), writes included (docs/semantics.md,
 * "Retries"). Reads are download.ts, writes upload.ts; the rest is here.
 *
 * What a retry can do twice:
 * - reads, stat, list, metadata updates: repeating them changes nothing; a download
 *   whose body breaks after its headers went out resumes where it broke;
 * - writes: a lost answer is told from a conflict by the upload id each write carries
 *   (upload.ts). Unconditional (LWW) writes are retried too: a retry lands before the
 *   client gets its answer, so the write stays inside its own request's lifetime and
 *   "last write wins" still holds;
 * - deletes: a 404 after an attempt that failed in flight means ours landed.
 */
import type { ListOptions, ListPage, ObjectAttributes, ObjectDownload, ObjectStore, UploadBody, WriteOptions } from '../object-store.ts';
import { isStoreError, StoreError } from '../store-error.ts';
import { deadlineTimer } from './attempt-timer.ts';
import type { BlobSigner } from './credentials.ts';
import { GcsCalls } from './gcs-calls.ts';
import { AnswerTooLargeError, type GcsHttp } from './gcs-http.ts';
import { GcsDownloads, type RangeSettings } from './download.ts';
import { attributesOf, OBJECT_FIELDS, type GcsObjectResource } from './object-resource.ts';
import type { RetryPolicy } from './retry.ts';
import { writeObject } from './upload.ts';
import { signReadUrl } from './url-signer.ts';

export interface GcsStoreOptions {
  readonly bucket: string;
  readonly http: GcsHttp;
  readonly signer: BlobSigner;
  /** Origin signed URLs point at: `https://storage.googleapis.com` or the emulator's. */
  readonly signingOrigin: string;
  readonly timeoutMs: number;
  readonly retry: RetryPolicy;
  /** Large downloads in parallel ranges (ranged-download.ts); undefined reads every object as one stream. */
  readonly ranges?: RangeSettings | undefined;
}

export class GcsObjectStore implements ObjectStore {
  readonly #calls: GcsCalls;
  readonly #downloads: GcsDownloads;
  readonly #signer: BlobSigner;
  readonly #signingOrigin: string;

  constructor(options: GcsStoreOptions) {
    this.#calls = new GcsCalls(options);
    this.#downloads = new GcsDownloads(this.#calls, options.ranges);
    this.#signer = options.signer;
    this.#signingOrigin = options.signingOrigin;
  }

  objectUrl(name: string): string {
    return this.#calls.objectUrl(name);
  }

  async read(name: string): Promise<ObjectDownload> {
    const download = await this.#downloads.read(name, undefined);
    if (download === undefined) throw new StoreError('broken', `GCS answered 304 to an unconditional download of ${this.objectUrl(name)}`);
    return download;
  }

  readIfChanged(name: string, generation: string): Promise<ObjectDownload | undefined> {
    return this.#downloads.read(name, generation);
  }

  async stat(name: string): Promise<ObjectAttributes> {
    return attributesOf(await this.#calls.resource(name));
  }

  write(name: string, body: UploadBody, options: WriteOptions): Promise<ObjectAttributes> {
    return writeObject(this.#calls, name, body, options);
  }

  async remove(name: string, ifGenerationMatch?: string): Promise<void> {
    const calls = this.#calls;
    const context = calls.context(name, ifGenerationMatch);
    const query = ifGenerationMatch === undefined ? '' : `?ifGenerationMatch=${ifGenerationMatch}`;
    await calls.retrying('delete', calls.deadline(), async ({ attempt, deadline }) => {
      const timer = deadlineTimer(deadline, context.target);
      const call = { op: 'delete', method: 'DELETE' as const, path: `${calls.objectPath(name)}${query}`, signal: timer.signal, context };
      try {
        const answer = await calls.http.send(call);
        // After an attempt lost in flight, "already gone" means that attempt deleted it.
        if (answer.status === 404 && attempt > 1) {
          await answer.dump();
          return;
        }
        if (answer.status !== 204 && answer.status !== 200) await calls.http.fail(answer, call);
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
    const context = { target: `${this.#calls.objectUrl(options.prefix)}*` };
    const page = await this.#calls.json<{ items?: { name: string; size?: string }[]; prefixes?: string[]; nextPageToken?: string }>(
      'list', 'GET', `${this.#calls.bucketPath}/o?${params.toString()}`, context,
    );
    return {
      objects: (page.items ?? []).map((item) => ({ name: item.name, size: Number(item.size ?? 0) })),
      prefixes: page.prefixes ?? [],
      nextPageToken: page.nextPageToken === '' ? undefined : page.nextPageToken,
    };
  }

  async setContentType(name: string, contentType: string): Promise<ObjectAttributes> {
    const resource = await this.#calls.json<GcsObjectResource>(
      'patch', 'PATCH', `${this.#calls.objectPath(name)}?fields=${OBJECT_FIELDS}`, this.#calls.context(name),
      { body: JSON.stringify({ contentType }), headers: { 'content-type': 'application/json' } },
    );
    return attributesOf(resource);
  }

  async signedReadUrl(name: string, ttlSeconds: number): Promise<string> {
    return signReadUrl({ origin: this.#signingOrigin, bucket: this.#calls.bucket, object: name, ttlSeconds, now: new Date() }, this.#signer);
  }

  async probe(prefix: string, timeoutMs: number): Promise<void> {
    const bucket = this.#calls.bucket;
    const params = new URLSearchParams({ prefix, maxResults: '1', fields: 'nextPageToken' });
    try {
      await this.#calls.json('probe', 'GET', `${this.#calls.bucketPath}/o?${params.toString()}`, { target: `gs://${bucket}` }, { deadline: Date.now() + timeoutMs });
    } catch (error) {
      // Listing answers 404 only when the bucket itself is missing.
      if (isStoreError(error, 'not_found')) {
        throw new StoreError('unavailable', `bucket gs://${bucket} does not exist; create it first (the connector never creates buckets)`);
      }
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.#calls.http.close();
  }
}
