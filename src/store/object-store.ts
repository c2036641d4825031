/**
 * The object store as the connector needs it: exactly these operations, on full object
 * names (the prefix is already applied by `keys.ts`). The GCS implementation lives
 * in `store/gcs/`; an in-memory one, held to the same contract, in `store/memory/`.
 *
 * Failures are thrown as StoreErrors (`store-error.ts`): `not_found`, `exists`, `changed`,
 * `denied`, `unavailable`, `timeout`, ...; the server maps them to the protocol's errors.
 */
import type { Readable } from 'node:stream';

/** What the connector knows of a stored object. */
export interface ObjectAttributes {
  readonly name: string;
  readonly size: number;
  /** GCS generation, an int64 as a decimal string. */
  readonly generation: string;
  readonly metageneration: string;
  readonly contentType: string;
  /** Last modification, RFC 3339. */
  readonly updated: string | undefined;
  readonly storageClass: string | undefined;
}

/** An object's bytes, streaming, with what is known before the first byte. */
export interface ObjectDownload {
  readonly generation: string;
  /** Undefined when the store cannot tell the length in advance. */
  readonly size: number | undefined;
  readonly contentType: string;
  /** HTTP date of the last modification, when the store gives one. */
  readonly lastModified: string | undefined;
  /** MD5 of the whole object, base64, when the store gives one (GCS: `x-goog-hash`). */
  readonly md5Base64: string | undefined;
  readonly body: Readable;
}

/** Every chunk of an {@link UploadBody} but the last is a multiple of this (GCS resumable uploads require it). */
export const UPLOAD_CHUNK_UNIT = 256 * 1024;

/**
 * A body for `write`, handed over one chunk at a time while it still arrives. The
 * receiver bounds its memory: only a few chunks exist at once, and `next()` waits until
 * the store has handed back (`done`) enough of the earlier ones. A body that fits in one
 * chunk comes as a single chunk marked `last`; how to upload it is the store's choice.
 */
export interface UploadBody {
  /** The whole size when the client announced it (Content-Length), else undefined. */
  readonly declaredSize: number | undefined;
  /** The next chunk: all of the same size, a multiple of UPLOAD_CHUNK_UNIT, except the last, which may be shorter or empty. */
  next(): Promise<BodyChunk>;
  /** The store no longer needs `chunk` (GCS has persisted it, or the upload failed). */
  done(chunk: BodyChunk): void;
}

/** One chunk of an UploadBody. */
export interface BodyChunk {
  /** Offset of the chunk's first byte in the body. */
  readonly offset: number;
  readonly size: number;
  /** The bytes (views, not copies); they stay valid until the chunk is handed back. */
  readonly buffers: readonly Buffer[];
  /** True for the body's final chunk; the body has then ended and was as long as announced. */
  readonly last: boolean;
  /** MD5 of the whole body, base64, on the last chunk only: the store has GCS check it. */
  readonly md5Base64: string | undefined;
}

export interface WriteOptions {
  /** Write only if the object is at this generation; `"0"` means only if it does not exist. */
  readonly ifGenerationMatch?: string | undefined;
  readonly contentType: string;
}

export interface ListOptions {
  /** Full object-name prefix. */
  readonly prefix: string;
  /** Group names by this delimiter; undefined lists recursively. */
  readonly delimiter: string | undefined;
  /** At most this many names and prefixes in the page. */
  readonly pageSize: number;
  readonly pageToken: string | undefined;
}

/** An object as a listing names it. */
export interface ListedObject {
  readonly name: string;
  readonly size: number;
}

export interface ListPage {
  readonly objects: readonly ListedObject[];
  readonly prefixes: readonly string[];
  readonly nextPageToken: string | undefined;
}

export interface ObjectStore {
  /** Streams an object's bytes (one request). */
  read(name: string): Promise<ObjectDownload>;
  /**
   * Streams an object's bytes unless it is still at `generation` (one request, with no
   * body when unchanged): undefined means unchanged. A backend that ignores the condition
   * answers the bytes; the download's generation then tells whether anything changed.
   */
  readIfChanged(name: string, generation: string): Promise<ObjectDownload | undefined>;
  /** An object's attributes (one request). */
  stat(name: string): Promise<ObjectAttributes>;
  /**
   * Stores `body` as the object's new content; answers the new attributes. The object
   * appears only when the whole body is stored and its MD5 checked (GCS: one multipart
   * request for a body of one chunk, else a resumable session fed while the body
   * arrives); a failure leaves the object as it was.
   */
  write(name: string, body: UploadBody, options: WriteOptions): Promise<ObjectAttributes>;
  /** Deletes an object, optionally only at a given generation. */
  remove(name: string, ifGenerationMatch?: string): Promise<void>;
  /** One page of names and prefixes (one request). */
  list(options: ListOptions): Promise<ListPage>;
  /** Changes the object's content type (a metadata update; the generation stays). */
  setContentType(name: string, contentType: string): Promise<ObjectAttributes>;
  /** A V4 signed URL that lets its holder GET the object for `ttlSeconds`. */
  signedReadUrl(name: string, ttlSeconds: number): Promise<string>;
  /** The object's `gs://bucket/name` URL. */
  objectUrl(name: string): string;
  /** Checks, within `timeoutMs`, that the bucket answers and the credentials may list it. */
  probe(prefix: string, timeoutMs: number): Promise<void>;
  /** Closes connections; in-flight requests are allowed to finish. */
  close(): Promise<void>;
}
