/**
 * An ObjectStore held in memory, with GCS's semantics where the connector depends on
 * them: generations that grow with every write, `ifGenerationMatch` (`0`: only if absent),
 * the conditional read, listing with prefix, delimiter and pages in name order, content
 * type and metageneration. For in-process tests and local experiments; the contract suite
 * (test/contract/object-store-contract.ts) holds it and the GCS store to the same
 * behaviour. It cannot sign URLs.
 */
/* eslint-disable @typescript-eslint/require-await -- the interface is asynchronous; an answer from memory has nothing to wait for, and `async` keeps a thrown error a rejection */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { StoreError } from '../store-error.ts';
import type { ListOptions, ListPage, ObjectAttributes, ObjectDownload, ObjectStore, UploadBody, WriteOptions } from '../object-store.ts';

interface StoredObject {
  readonly bytes: Buffer;
  readonly attributes: ObjectAttributes;
  readonly md5Base64: string;
}

export class MemoryObjectStore implements ObjectStore {
  readonly bucket: string;
  readonly #objects = new Map<string, StoredObject>();
  /** Names in order, rebuilt on the first listing after a change. */
  #sortedNames: string[] | undefined;
  #nextGeneration = 1_700_000_000_000_000;

  constructor(bucket = 'memory') {
    this.bucket = bucket;
  }

  objectUrl(name: string): string {
    return `gs://${this.bucket}/${name}`;
  }

  async read(name: string): Promise<ObjectDownload> {
    return this.#download(this.#get(name));
  }

  async readIfChanged(name: string, generation: string): Promise<ObjectDownload | undefined> {
    const stored = this.#get(name);
    return stored.attributes.generation === generation ? undefined : this.#download(stored);
  }

  async stat(name: string): Promise<ObjectAttributes> {
    return this.#get(name).attributes;
  }

  async write(name: string, body: UploadBody, options: WriteOptions): Promise<ObjectAttributes> {
    this.#checkCondition(name, options.ifGenerationMatch);
    const bytes = await receiveChunks(body);
    // The body arrived while others may have written: GCS checks the condition when the object is finalized.
    this.#checkCondition(name, options.ifGenerationMatch);
    const generation = String(this.#nextGeneration++);
    const attributes: ObjectAttributes = {
      name,
      size: bytes.length,
      generation,
      metageneration: '1',
      contentType: options.contentType,
      updated: new Date().toISOString(),
      storageClass: 'STANDARD',
    };
    this.#set(name, { bytes, attributes, md5Base64: createHash('md5').update(bytes).digest('base64') });
    return attributes;
  }

  async remove(name: string, ifGenerationMatch?: string): Promise<void> {
    const stored = this.#get(name);
    if (ifGenerationMatch !== undefined && stored.attributes.generation !== ifGenerationMatch) {
      throw new StoreError('changed', `${this.objectUrl(name)} changed since generation ${ifGenerationMatch} was read; read it again and retry`);
    }
    this.#objects.delete(name);
    this.#sortedNames = undefined;
  }

  async list(options: ListOptions): Promise<ListPage> {
    const names = this.#sortedNames ??= [...this.#objects.keys()].sort(byBytes);
    const start = options.pageToken !== undefined && byBytes(options.pageToken, options.prefix) > 0 ? options.pageToken : options.prefix;
    const objects: Array<{ name: string; size: number }> = [];
    const prefixes: string[] = [];
    for (let i = lowerBound(names, start); i < names.length; i++) {
      const name = names[i] as string;
      if (!name.startsWith(options.prefix)) break;
      if (objects.length + prefixes.length >= options.pageSize) return { objects, prefixes, nextPageToken: name };
      const cut = options.delimiter === undefined ? -1 : name.indexOf(options.delimiter, options.prefix.length);
      if (cut < 0) {
        objects.push({ name, size: this.#get(name).attributes.size });
        continue;
      }
      const group = name.slice(0, cut + (options.delimiter?.length ?? 0));
      prefixes.push(group);
      while (i + 1 < names.length && (names[i + 1] as string).startsWith(group)) i++;
    }
    return { objects, prefixes, nextPageToken: undefined };
  }

  async setContentType(name: string, contentType: string): Promise<ObjectAttributes> {
    const stored = this.#get(name);
    const attributes = { ...stored.attributes, contentType, metageneration: String(Number(stored.attributes.metageneration) + 1) };
    this.#objects.set(name, { ...stored, attributes });
    return attributes;
  }

  signedReadUrl(name: string): Promise<string> {
    return Promise.reject(new StoreError('denied', `the in-memory store cannot sign a URL for ${this.objectUrl(name)}`));
  }

  async probe(): Promise<void> {}

  async close(): Promise<void> {}

  #get(name: string): StoredObject {
    const stored = this.#objects.get(name);
    if (stored === undefined) throw new StoreError('not_found', `no object ${this.objectUrl(name)}`);
    return stored;
  }

  #set(name: string, stored: StoredObject): void {
    if (!this.#objects.has(name)) this.#sortedNames = undefined;
    this.#objects.set(name, stored);
  }

  #checkCondition(name: string, ifGenerationMatch: string | undefined): void {
    if (ifGenerationMatch === undefined) return;
    const current = this.#objects.get(name)?.attributes.generation ?? '0';
    if (current === ifGenerationMatch) return;
    if (ifGenerationMatch === '0') throw new StoreError('exists', `${this.objectUrl(name)} already exists (exclusive create)`);
    throw new StoreError('changed', `${this.objectUrl(name)} changed since generation ${ifGenerationMatch} was read; read it again and retry`);
  }

  #download(stored: StoredObject): ObjectDownload {
    return {
      generation: stored.attributes.generation,
      size: stored.bytes.length,
      contentType: stored.attributes.contentType,
      lastModified: stored.attributes.updated === undefined ? undefined : new Date(stored.attributes.updated).toUTCString(),
      md5Base64: stored.md5Base64,
      body: Readable.from([stored.bytes], { objectMode: false }),
    };
  }
}

/** A body's bytes, each chunk handed back once copied, as a GCS upload does once a chunk is persisted. */
async function receiveChunks(body: UploadBody): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (;;) {
    const chunk = await body.next();
    parts.push(Buffer.concat(chunk.buffers, chunk.size));
    body.done(chunk);
    // A body of one chunk is already one copy: no second.
    if (chunk.last) return parts.length === 1 ? parts[0] as Buffer : Buffer.concat(parts);
  }
}

/** GCS orders names by their UTF-8 bytes. */
function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** The first index whose name is not below `start`. */
function lowerBound(names: readonly string[], start: string): number {
  let low = 0;
  let high = names.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (byBytes(names[mid] as string, start) < 0) low = mid + 1;
    else high = mid;
  }
  return low;
}
