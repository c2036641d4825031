/**
 * The read cache in front of an ObjectStore: a cached object is served from local disk
 * only after GCS confirmed, in the same single request, that its generation has not
 * changed (`ifGenerationNotMatch`: 304 and no body). A changed object arrives in that
 * request and is served and stored in the same pass; a deleted one answers 404 and drops
 * its entry. Writes, deletes and metadata changes through the connector drop the entry.
 */
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { KeyNotFoundError } from '../../errors.ts';
import type { ListOptions, ListPage, ObjectAttributes, ObjectDownload, ObjectStore, UploadSource, WriteOptions } from '../object-store.ts';
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
      if (error instanceof KeyNotFoundError) await this.#index.invalidate(name);
      throw error;
    }
    if (fresh === undefined) {
      const served = await serveFromDisk(entry);
      if (served !== undefined) {
        this.#events.onHit(entry.size);
        return served;
      }
      // Evicted between the check and the open: read it whole.
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

  async write(name: string, source: UploadSource, options: WriteOptions): Promise<ObjectAttributes> {
    const attributes = await this.#inner.write(name, source, options);
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
    const size = download.size;
    if (size === undefined || size < this.#minObjectBytes) return download;
    const tempPath = await this.#index.reserve(size);
    if (tempPath === undefined) return download;
    let file: FileHandle;
    try {
      file = await open(tempPath, 'wx', 0o600);
    } catch {
      await this.#index.release(size, tempPath);
      return download;
    }
    const index = this.#index;
    const path = tempPath;
    const total = size;
    const entry = { name, generation: download.generation, size, contentType: download.contentType, lastModified: download.lastModified };
    async function* passAndStore(): AsyncGenerator<Buffer> {
      let storing = true;
      let committed = false;
      let written = 0;
      try {
        for await (const chunk of download.body as AsyncIterable<Buffer>) {
          if (storing) {
            try {
              await file.write(chunk);
              written += chunk.length;
              // Commit before the last bytes go out: a client that reads the object
              // again as soon as it has it finds the copy.
              if (written === total) {
                await file.close();
                await index.commit(path, entry);
                committed = true;
                storing = false;
              }
            } catch {
              // The cache disk failed (full, gone): the client still gets its bytes.
              storing = false;
            }
          }
          yield chunk;
        }
      } finally {
        if (!committed) {
          await file.close().catch(() => undefined);
          await index.release(total, path);
        }
      }
    }
    return { ...download, body: Readable.from(passAndStore(), { objectMode: false }) };
  }
}

/** The cached file as a download, or undefined when it is gone. */
async function serveFromDisk(entry: CacheEntry): Promise<ObjectDownload | undefined> {
  let file: FileHandle;
  try {
    file = await open(entry.path, 'r');
  } catch {
    return undefined;
  }
  // Open first: an eviction from here on removes the name, not the bytes this reader has.
  return {
    generation: entry.generation,
    size: entry.size,
    contentType: entry.contentType,
    lastModified: entry.lastModified,
    body: file.createReadStream({ highWaterMark: 256 * 1024 }),
  };
}
