/**
 * A body uploaded as parts side by side and composed into the object at the end (a GCS
 * parallel composite upload): one GCS stream is limited to what GCS serves per stream,
 * several are not. Each chunk is stored whole as a temporary part object, checked by GCS
 * against the chunk's MD5, while the next chunks arrive; how many upload at once is the
 * body's window (request-body.ts). When all are stored they are composed, 32 at a time (the
 * most one compose takes), level by level, into the object; only that last compose
 * carries the write's precondition, so the object appears, or the write conflicts, at one
 * instant, as with a single upload. The parts and intermediate objects are deleted
 * afterwards, whatever the outcome; what a killed connector leaves behind is removed by
 * the bucket's lifecycle rule (docs/configuration.md).
 *
 * The composed object has a CRC32C but no MD5 (GCS makes none for composites); every byte
 * of it was checked against an MD5 on its way in, part by part.
 */
import { createHash, hash } from 'node:crypto';
import { InternalError } from '../../errors.ts';
import type { BodyChunk, ChunkedBody } from '../object-store.ts';

/** The most source objects one compose request takes. */
export const MAX_COMPOSE_SOURCES = 32;
/** Temporary objects deleted at once after an upload. */
const DELETES_IN_FLIGHT = 8;

/** A stored temporary object: a part or an intermediate composite. */
export interface PartObject {
  readonly name: string;
  readonly generation: string;
}

/** What a parallel upload needs from the store. */
export interface PartOperations {
  /** Stores one chunk as the object `name`, whole, verified against `md5Base64`. */
  storePart(name: string, chunk: BodyChunk, md5Base64: string): Promise<PartObject>;
  /** Composes `sources`, in order, into the temporary object `name`. */
  composePart(name: string, sources: readonly PartObject[]): Promise<PartObject>;
  /** Deletes a temporary object; rejects when it cannot. */
  removePart(name: string): Promise<void>;
  /** Told of the temporary objects that could not be deleted. */
  onLeftovers(names: readonly string[], error: unknown): void;
}

/**
 * Uploads `body` as parts named `<partsPrefix><n>` and hands them, composed down to at most
 * 32, to `composeObject`, which makes the object; answers what it answers.
 */
export async function uploadInParts<T>(
  body: ChunkedBody,
  partsPrefix: string,
  operations: PartOperations,
  composeObject: (sources: readonly PartObject[]) => Promise<T>,
): Promise<T> {
  /** Every temporary object asked for, stored or not: an answer lost in flight may hide one that was. */
  const temporary: string[] = [];
  try {
    const parts = await storeParts(body, partsPrefix, operations, temporary);
    let sources = parts;
    for (let level = 1; sources.length > MAX_COMPOSE_SOURCES; level += 1) {
      sources = await composeLevel(sources, `${partsPrefix}l${level}-`, operations, temporary);
    }
    return await composeObject(sources);
  } finally {
    await removeAll(temporary, operations);
  }
}

/** Stores every chunk as a part while the next ones arrive; answers the parts in order. */
async function storeParts(body: ChunkedBody, partsPrefix: string, operations: PartOperations, temporary: string[]): Promise<PartObject[]> {
  const parts: PartObject[] = [];
  const uploads: Promise<void>[] = [];
  let failure: { readonly error: unknown } | undefined;
  try {
    for (let index = 0; failure === undefined; index += 1) {
      // Waits while the window is full: a part handed back lets the next chunk in.
      const chunk = await body.next();
      if (chunk.size === 0 && index > 0) {
        body.done(chunk);
        break;
      }
      const name = `${partsPrefix}${index}`;
      temporary.push(name);
      uploads.push(
        operations.storePart(name, chunk, md5Of(chunk.buffers))
          .then((part) => { parts[index] = part; }, (error: unknown) => { failure ??= { error }; })
          .finally(() => { body.done(chunk); }),
      );
      if (chunk.last) break;
    }
  } finally {
    // Nothing may be deleted, or answered, while one of its parts is still on its way.
    await Promise.all(uploads);
  }
  if (failure !== undefined) throw failure.error;
  if (parts.length !== uploads.length) throw new InternalError(`a parallel upload stored ${parts.length} of its ${uploads.length} parts`);
  return parts;
}

/** Composes `sources` 32 at a time into intermediate objects, all groups at once. */
async function composeLevel(sources: readonly PartObject[], prefix: string, operations: PartOperations, temporary: string[]): Promise<PartObject[]> {
  const groups: Promise<PartObject>[] = [];
  for (let start = 0; start < sources.length; start += MAX_COMPOSE_SOURCES) {
    const name = `${prefix}${start / MAX_COMPOSE_SOURCES}`;
    temporary.push(name);
    groups.push(operations.composePart(name, sources.slice(start, start + MAX_COMPOSE_SOURCES)));
  }
  const settled = await Promise.allSettled(groups);
  const failed = settled.find((outcome) => outcome.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<PartObject>).value);
}

/** Deletes the temporary objects, a few at a time; reports the ones left. */
async function removeAll(names: readonly string[], operations: PartOperations): Promise<void> {
  const left: string[] = [];
  let lastError: unknown;
  const queue = [...names];
  const worker = async (): Promise<void> => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      try {
        await operations.removePart(name);
      } catch (error) {
        left.push(name);
        lastError = error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(DELETES_IN_FLIGHT, names.length) }, worker));
  if (left.length > 0) operations.onLeftovers(left, lastError);
}

function md5Of(buffers: readonly Buffer[]): string {
  const [only] = buffers;
  if (buffers.length === 1 && only !== undefined) return hash('md5', only, 'base64');
  const md5 = createHash('md5');
  for (const buffer of buffers) md5.update(buffer);
  return md5.digest('base64');
}
