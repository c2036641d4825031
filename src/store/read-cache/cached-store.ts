/**
 * The read cache in front of an ObjectStore: a cached object is served from local disk
 * only after GCS confirmed, in the same single request, that its generation has not
 * changed (`ifGenerationNotMatch`: 304 and no body). A changed object arrives in that
 * request and is served and stored in the same pass; a deleted one answers 404 and drops
 * its entry. Writes, deletes and metadata changes through the connector drop the entry.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { isStoreError } from '../store-error.ts';
import type { ListOptions, ListPage, ObjectAttributes, ObjectDownload, ObjectStore, UploadBody, WriteOptions } from '../object-store.ts';
import type { CacheEntry, CacheIndex } from './cache-index.ts';

export interface ReadCacheEvents {
  /** Served from disk after GCS confirmed the generation: `bytes` not downloaded. */
  readonly onHit: (bytes: number) => void;
  /** Downloaded from GCS (not cached, changed, or the backend ignored the condition). */
  readonly onMiss: () => void;
}

export class CachedObjectStore implements ObjectStore {
  readonly #inner: ObjectStore;
  readonly #index: CacheIndex;
  readonly #minObjectBytes: number;
  readonly #events: ReadCacheEvents;

  constructor(inner: ObjectStore, index: CacheIndex, minObjectBytes: number, events: ReadCacheEvents) {
    this.#inner = inner;
    this.#index = index;
    this.#minObjectBytes = minObjectBytes;
    this.#events = events;
  }

  async read(name: string): Promise<ObjectDownload> {
    const entry = this.#index.get(name);
    if (entry === undefined) return this.#fromBackend(name, await this.#inner.read(name));
    let fresh: ObjectDownload | undefined;
    try {
      fresh = await this.#inner.readIfChanged(name, entry.generation);
    } catch (error) {
      if (isStoreError(error, 'not_found')) await this.#index.invalidate(name);
      throw error;
    }
    if (fresh === undefined) {
      const served = await this.#serveFromDisk(entry);
      if (served !== undefined) {
        this.#events.onHit(entry.size);
        return served;
      }
      // Evicted between the check and the open, or not what was stored: read it whole.
      return this.#fromBackend(name, await this.#inner.read(name));
    }
    if (fresh.generation === entry.generation) {
      // The backend sent the bytes although the generation matched (fake-gcs-server
      // does): unchanged, so the entry stays; these bytes are served as they come.
      this.#events.onMiss();
      return fresh;
    }
    await this.#index.invalidate(name);
    return this.#fromBackend(name, fresh);
  }

  readIfChanged(name: string, generation: string): Promise<ObjectDownload | undefined> {
    return this.#inner.readIfChanged(name, generation);
  }

  async write(name: string, body: UploadBody, options: WriteOptions): Promise<ObjectAttributes> {
    const attributes = await this.#inner.write(name, body, options);
    await this.#index.invalidate(name);
    return attributes;
  }

  async remove(name: string, ifGenerationMatch?: string): Promise<void> {
    await this.#inner.remove(name, ifGenerationMatch);
    await this.#index.invalidate(name);
  }

  async setContentType(name: string, contentType: string): Promise<ObjectAttributes> {
    const attributes = await this.#inner.setContentType(name, contentType);
    await this.#index.invalidate(name);
    return attributes;
  }

  stat(name: string): Promise<ObjectAttributes> { return this.#inner.stat(name); }
  list(options: ListOptions): Promise<ListPage> { return this.#inner.list(options); }
  signedReadUrl(name: string, ttlSeconds: number): Promise<string> { return this.#inner.signedReadUrl(name, ttlSeconds); }
  objectUrl(name: string): string { return this.#inner.objectUrl(name); }
  probe(prefix: string, timeoutMs: number): Promise<void> { return this.#inner.probe(prefix, timeoutMs); }
  close(): Promise<void> { return this.#inner.close(); }

  /** A download from GCS, stored on its way to the client when it is worth caching and fits. */
  async #fromBackend(name: string, download: ObjectDownload): Promise<ObjectDownload> {
    this.#events.onMiss();
    const copy = await this.#admit(download);
    if (copy === undefined) return download;
    const entry = { name, generation: download.generation, size: copy.size, contentType: download.contentType, lastModified: download.lastModified };
    return { ...download, body: Readable.from(storeWhilePassing(download, copy, entry, this.#index), { objectMode: false }) };
  }

  /** Room and a temp file for a copy of `download`, when it is worth caching and fits. */
  async #admit(download: ObjectDownload): Promise<PendingCopy | undefined> {
    const size = download.size;
    if (size === undefined || size < this.#minObjectBytes) return undefined;
    const tempPath = await this.#index.reserve(size);
    if (tempPath === undefined) return undefined;
    try {
      return { file: await open(tempPath, 'wx', 0o600), path: tempPath, size };
    } catch {
      await this.#index.release(size, tempPath);
      return undefined;
    }
  }

  /** The cached file as a download, verified on the way out; undefined when it is gone or not what was stored. */
  async #serveFromDisk(entry: CacheEntry): Promise<ObjectDownload | undefined> {
    let file: FileHandle;
    try {
      file = await open(entry.path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch {
      return undefined;
    }
    // Open first: an eviction from here on removes the name, not the bytes this reader has.
    const stats = await file.stat();
    if (!stats.isFile() || stats.size !== entry.size) {
      await file.close();
      await this.#index.invalidate(entry.name);
      return undefined;
    }
    // A copy small enough is checked whole before its first byte goes out, so a changed
    // one is read from GCS instead of cut mid-answer; a larger one is checked as it streams.
    if (entry.size <= VERIFY_FIRST_BYTES && !await matchesMd5(file, entry)) {
      await file.close();
      await this.#index.invalidate(entry.name);
      return undefined;
    }
    const onMismatch = (): void => { void this.#index.invalidate(entry.name); };
    const body = Readable.from(verified(file.createReadStream({ start: 0, highWaterMark: 256 * 1024 }), entry, onMismatch), { objectMode: false });
    return {
      generation: entry.generation,
      size: entry.size,
      contentType: entry.contentType,
      lastModified: entry.lastModified,
      md5Base64: entry.md5Base64,
      body,
    };
  }
}

interface PendingCopy {
  readonly file: FileHandle;
  readonly path: string;
  readonly size: number;
}

/**
 * Passes the download's bytes on while writing them to the copy, and commits the copy
 * once complete (before the last bytes leave, so a client that reads again at once finds
 * it) when its MD5 matches what GCS said. A cache disk that fails only stops the copy.
 */
async function* storeWhilePassing(download: ObjectDownload, copy: PendingCopy, entry: Omit<CacheEntry, 'path' | 'md5Base64'>, index: CacheIndex): AsyncGenerator<Buffer> {
  const hash = createHash('md5');
  let storing = true;
  let committed = false;
  let written = 0;
  try {
    for await (const chunk of download.body as AsyncIterable<Buffer>) {
      if (storing) {
        try {
          await copy.file.write(chunk);
          hash.update(chunk);
          written += chunk.length;
          if (written === copy.size) {
            await copy.file.close();
            const md5Base64 = hash.digest('base64');
            storing = false;
            if (download.md5Base64 === undefined || download.md5Base64 === md5Base64) {
              await index.commit(copy.path, { ...entry, md5Base64 });
              committed = true;
            }
          }
        } catch {
          storing = false;
        }
      }
      yield chunk;
    }
  } finally {
    if (!committed) {
      await copy.file.close().catch(() => undefined);
      await index.release(copy.size, copy.path);
    }
  }
}

/** Copies up to this size are verified before they are served (a second read of the local file). */
const VERIFY_FIRST_BYTES = 16 * 1024 * 1024;

/** Whether the whole file hashes to the entry's MD5. */
async function matchesMd5(file: FileHandle, entry: CacheEntry): Promise<boolean> {
  const hash = createHash('md5');
  const buffer = Buffer.allocUnsafe(256 * 1024);
  for (let position = 0; position < entry.size;) {
    const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) return false;
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return hash.digest('base64') === entry.md5Base64;
}

/**
 * Yields a cached file's bytes, checking their MD5 against the record at the end: a copy
 * changed on disk cuts the response (the client sees a short or failed read, never wrong
 * bytes that look complete) and is dropped, so the next read goes to GCS.
 */
async function* verified(source: AsyncIterable<Buffer>, entry: CacheEntry, onMismatch: () => void): AsyncGenerator<Buffer> {
  const hash = createHash('md5');
  let pending: Buffer | undefined;
  for await (const chunk of source) {
    hash.update(chunk);
    // One chunk is held back so the last bytes go out only after the check.
    if (pending !== undefined) yield pending;
    pending = chunk;
  }
  if (hash.digest('base64') !== entry.md5Base64) {
    onMismatch();
    throw new Error(`the cached copy of ${entry.name} does not match its MD5; dropped`);
  }
  if (pending !== undefined) yield pending;
}
