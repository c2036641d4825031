/**
 * Writing an object to GCS, and the choice of how: a body that came as one chunk is one
 * multipart request, sent again whole on a retry; a longer one streams through a
 * resumable session while it still arrives (resumable-upload.ts). Both carry the whole
 * body's MD5, which GCS checks before the object appears.
 *
 * Every write carries a fresh upload id in its custom metadata. When a retry of a
 * conditional write meets 412 after an earlier attempt failed in flight (its answer may
 * have been lost after GCS stored it), the object is read back: if it carries our upload
 * id and MD5, the write did land and succeeds.
 */
import { randomUUID } from 'node:crypto';
import type { BodyChunk, ObjectAttributes, UploadBody, WriteOptions } from '../object-store.ts';
import { isStoreError, StoreError } from '../store-error.ts';
import { deadlineTimer } from './attempt-timer.ts';
import type { GcsCalls } from './gcs-calls.ts';
import type { GcsCallContext } from './gcs-errors.ts';
import { attributesOf, OBJECT_FIELDS, type GcsObjectResource } from './object-resource.ts';
import { uploadChunked } from './resumable-upload.ts';

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

/** Stores `body` as object `name`; answers the new attributes. */
export async function writeObject(calls: GcsCalls, name: string, body: UploadBody, options: WriteOptions): Promise<ObjectAttributes> {
  const context = calls.context(name, options.ifGenerationMatch);
  let query = `fields=${OBJECT_FIELDS}`;
  if (options.ifGenerationMatch !== undefined) query += `&ifGenerationMatch=${options.ifGenerationMatch}`;
  const first = await body.next();
  if (!first.last) {
    const metadata: UploadMetadata = { name, contentType: options.contentType, metadata: { [UPLOAD_ID_KEY]: randomUUID() } };
    // A lost answer needs no read-back here: the session itself says whether it finalized.
    const resource = await uploadChunked(
      { calls, context },
      { path: `/upload${calls.bucketPath}/o?uploadType=resumable&${query}`, metadataJson: JSON.stringify(metadata), contentType: options.contentType },
      body,
      first,
    );
    return attributesOf(resource);
  }
  try {
    if (first.md5Base64 === undefined) throw new StoreError('broken', `the body for ${context.target} came without its MD5`);
    const metadata: UploadMetadata = { name, contentType: options.contentType, md5Hash: first.md5Base64, metadata: { [UPLOAD_ID_KEY]: randomUUID() } };
    return await landedOnce(calls, metadata, (noteRetry) =>
      calls.retrying('write', calls.deadline(), ({ deadline }) => multipartUpload(calls, first, metadata, query, context, deadline), noteRetry));
  } finally {
    body.done(first);
  }
}

/**
 * Runs `write`, which stores `metadata`'s object in one request, retried. Only transient
 * failures are retried, so a retry means an earlier attempt may have reached GCS and lost
 * only its answer; a conditional retry then meets 412 although the write landed. The
 * object is read back: if it carries our upload id and MD5, the write succeeded. If the
 * read-back fails too, the outcome is unknown: `unavailable`, not a conflict, which
 * would tell the caller another writer got in.
 */
async function landedOnce(calls: GcsCalls, metadata: UploadMetadata, write: (noteRetry: () => void) => Promise<GcsObjectResource>): Promise<ObjectAttributes> {
  let retries = 0;
  try {
    return attributesOf(await write(() => { retries += 1; }));
  } catch (error) {
    if (!isStoreError(error, 'exists', 'changed') || retries === 0) throw error;
    let current: GcsObjectResource | undefined;
    try {
      current = await calls.resource(metadata.name);
    } catch (readBack) {
      if (!isStoreError(readBack, 'not_found')) {
        throw new StoreError(
          'unavailable',
          `an attempt to write ${calls.objectUrl(metadata.name)} may have landed with its answer lost, and reading it back failed ` +
            `(${readBack instanceof Error ? readBack.message : String(readBack)}); read the key to see which version it holds`,
          { cause: readBack, backend: isStoreError(readBack) ? readBack.backend : undefined },
        );
      }
    }
    if (current?.metadata?.[UPLOAD_ID_KEY] === metadata.metadata[UPLOAD_ID_KEY] && current.md5Hash === metadata.md5Hash) return attributesOf(current);
    throw error;
  }
}

/** One request carrying the metadata and the bytes; sending and answering share one deadline. */
async function multipartUpload(calls: GcsCalls, body: BodyChunk, metadata: UploadMetadata, query: string, context: GcsCallContext, deadline: number): Promise<GcsObjectResource> {
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
    return await calls.http.json<GcsObjectResource>({
      op: 'write', method: 'POST', path: `/upload${calls.bucketPath}/o?uploadType=multipart&${query}`, signal: timer.signal, context, body: [head, ...body.buffers, tail], headers,
    });
  } finally {
    timer.disarm();
  }
}
