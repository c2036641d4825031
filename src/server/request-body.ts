/**
 * Receives a request body into memory, never holding more than the memory budget grants,
 * and hands it to the store as a bounded stream of chunks; how the bytes go up (one
 * request or a resumable session) is the store's choice.
 *
 * Before the first byte is read the body waits its turn for room (first come, first
 * served): its announced length, or one chunk when it is larger or unannounced. The first
 * chunk is received before the store is called, so a body that ends within it arrives as
 * one chunk marked last. A longer one is handed over chunk by chunk while it still
 * arrives, holding at most two chunks: the one the store is uploading and the one being
 * received; when the budget has room for only one, the next is received once the store
 * is done with the last. While a body waits, nothing of it is read, so the client is held
 * back by the socket, not by our memory.
 *
 * Every body is hashed (MD5) on the way in; its last chunk carries the hash, which the
 * store hands to GCS to check before the object is created.
 *
 * A body that ends early (client gone, Content-Length not reached, broken chunking) or
 * grows past the limit throws, so the store never finalizes it.
 */
import { createHash, hash, type Hash } from 'node:crypto';
import { BadRequestError, ClientAbortedError, ConnectorError, InternalError, TooLargeError } from '../errors.ts';
import type { MemoryBudget } from '../memory-budget.ts';
import { UPLOAD_CHUNK_UNIT, type BodyChunk, type UploadBody } from '../store/object-store.ts';
import { BufferPool } from '../buffer-pool.ts';

export interface BodyOptions {
  /** Size of every chunk of a body but the last. */
  readonly chunkBytes: number;
  /** Largest body accepted (CONNECTOR_MAX_BODY). */
  readonly maxBytes: number;
  /** The Content-Length the client announced, if any: fewer bytes means the body was cut. */
  readonly declaredLength: number | undefined;
  readonly budget: MemoryBudget;
  /** Longest wait for room in the budget before the request is answered 503. */
  readonly admissionTimeoutMs: number;
  /** Ends the wait for room when the client leaves; made only when the body has to wait. */
  readonly abortSignal?: () => AbortSignal;
  /** Called once room is granted and before the body is read (answers `Expect: 100-continue`). */
  readonly onAdmitted?: () => void;
}

/** A body being received: what the store uploads, and the memory it holds until released. */
export interface ReceivedBody {
  readonly upload: UploadBody;
  /** True when the body did not end within its first chunk: it is handed over while it still arrives. */
  readonly streamed: boolean;
  /** Bytes received so far. */
  receivedBytes(): number;
  /** Gives the body's memory back to the budget and stops reading what is left of it. Safe to call more than once. */
  release(): void;
}

/** The configured chunk, lowered (in 256 KiB steps) until two fit in the budget. */
export function chunkForBudget(configuredBytes: number, budgetBytes: number): number {
  const fitting = Math.floor(budgetBytes / 2 / UPLOAD_CHUNK_UNIT) * UPLOAD_CHUNK_UNIT;
  return Math.max(UPLOAD_CHUNK_UNIT, Math.min(configuredBytes, fitting));
}

export async function receiveBody(source: AsyncIterable<Buffer>, options: BodyOptions): Promise<ReceivedBody> {
  const { budget, chunkBytes, declaredLength } = options;
  const first = declaredLength !== undefined && declaredLength <= chunkBytes ? declaredLength : chunkBytes;
  await budget.acquire(first, 'body', 'a request body', options.admissionTimeoutMs, options.abortSignal);
  let reserved = first;
  let released = false;
  const reader = new BodyReader(source[Symbol.asyncIterator](), options);
  const release = (): void => {
    if (released) return;
    released = true;
    budget.release(reserved, 'body');
    reader.close();
  };
  // A body announced longer than a chunk is copied from the start into its own chunk
  // buffers, reused chunk after chunk and dropped with the body.
  let pool = declaredLength !== undefined && declaredLength > chunkBytes ? new BufferPool(chunkBytes) : undefined;
  const pooled = pool?.take();
  try {
    options.onAdmitted?.();
    const head = await reader.fill(chunkBytes, pooled);
    if (reader.ended) {
      // Only what arrived stays reserved (an unannounced body was granted a whole chunk).
      budget.release(reserved - head.size, 'body');
      reserved = head.size;
      const only: BodyChunk = { offset: 0, size: head.size, buffers: head.buffers, last: true, md5Base64: reader.md5Base64() };
      return { upload: chunksOf(reader, undefined, only, undefined, 1, declaredLength), streamed: false, receivedBytes: () => reader.total, release };
    }
    // A second chunk lets receiving overlap uploading; it is taken only when nobody is waiting for room.
    let window = 1;
    if (budget.tryReserveInTurn(chunkBytes, 'body')) {
      window = 2;
      reserved += chunkBytes;
    }
    pool ??= new BufferPool(chunkBytes);
    const firstChunk: BodyChunk = { offset: 0, size: head.size, buffers: head.buffers, last: false, md5Base64: undefined };
    return { upload: chunksOf(reader, pool, firstChunk, pooled, window, declaredLength), streamed: true, receivedBytes: () => reader.total, release };
  } catch (error) {
    release();
    throw error;
  }
}

/** The chunks of a body, the first already received, at most `window` held at once, each later one copied into a pool buffer. */
function chunksOf(
  reader: BodyReader,
  pool: BufferPool | undefined,
  first: BodyChunk,
  firstPooled: Buffer | undefined,
  window: number,
  declaredSize: number | undefined,
): UploadBody {
  /** The pool buffer behind each chunk handed out and not yet done. */
  const pooledOf = new Map<BodyChunk, Buffer>();
  if (firstPooled !== undefined) pooledOf.set(first, firstPooled);
  let pendingFirst: BodyChunk | undefined = first;
  /** The last chunk has been handed out: the body has nothing more. */
  let lastOut = first.last;
  let held = 1;
  let offset = first.size;
  let wake: (() => void) | undefined;
  return {
    declaredSize,
    async next() {
      if (pendingFirst !== undefined) {
        const chunk = pendingFirst;
        pendingFirst = undefined;
        return chunk;
      }
      if (lastOut || pool === undefined) throw new InternalError('the store asked for a chunk past the end of a body');
      while (held >= window) await new Promise<void>((resolve) => { wake = resolve; });
      held += 1;
      const buffer = pool.take();
      try {
        const part = await reader.fill(pool.bufferBytes, buffer);
        const chunk: BodyChunk = { offset, size: part.size, buffers: part.buffers, last: reader.ended, md5Base64: reader.ended ? reader.md5Base64() : undefined };
        pooledOf.set(chunk, buffer);
        offset += part.size;
        lastOut = chunk.last;
        return chunk;
      } catch (error) {
        held -= 1;
        pool.give(buffer);
        throw error;
      }
    },
    done(chunk) {
      held -= 1;
      const buffer = pooledOf.get(chunk);
      pooledOf.delete(chunk);
      if (buffer !== undefined) pool?.give(buffer);
      const resume = wake;
      wake = undefined;
      resume?.();
    },
  };
}

const EMPTY = Buffer.alloc(0);

/** Pulls a body's buffers, hashing and checking its length on the way. */
class BodyReader {
  total = 0;
  ended = false;
  readonly #source: AsyncIterator<Buffer>;
  readonly #options: BodyOptions;
  /** The body's MD5 so far, made at its second buffer: a body of one buffer is hashed in one call at the end. */
  #hash: Hash | undefined;
  #firstBuffer: Buffer | undefined;
  /** The rest of a buffer that went past the end of the last chunk. */
  #carry: Buffer | undefined;

  constructor(source: AsyncIterator<Buffer>, options: BodyOptions) {
    this.#source = source;
    this.#options = options;
  }

  /**
   * Reads until `limit` bytes or the end of the body: copied into `target` when given
   * (answered as one view of it), else answered as views of the buffers that arrived.
   */
  async fill(limit: number, target?: Buffer): Promise<{ buffers: Buffer[]; size: number }> {
    const buffers: Buffer[] = [];
    let size = 0;
    while (size < limit && !this.ended) {
      const buffer = this.#carry ?? await this.#pull();
      this.#carry = undefined;
      if (buffer === undefined) break;
      const room = limit - size;
      const taken = buffer.length > room ? buffer.subarray(0, room) : buffer;
      if (buffer.length > room) this.#carry = buffer.subarray(room);
      if (target === undefined) buffers.push(taken);
      else taken.copy(target, size);
      size += taken.length;
    }
    if (target !== undefined) buffers.push(target.subarray(0, size));
    // A body that reached its announced length is complete; see its end now, so that its
    // last chunk is known to be the last.
    if (!this.ended && this.#carry === undefined && this.total === this.#options.declaredLength) await this.#pull();
    return { buffers, size };
  }

  /**
   * Ends the source when the body was refused or its upload failed before its end: a
   * source left suspended would keep what it holds (the rate guard's timer and listeners)
   * for as long as the connection lives.
   */
  close(): void {
    this.#source.return?.(undefined).catch(() => undefined);
  }

  /** The MD5 of the whole body; asked once, when it has ended. */
  md5Base64(): string {
    return this.#hash === undefined ? hash('md5', this.#firstBuffer ?? EMPTY, 'base64') : this.#hash.digest('base64');
  }

  #hashed(buffer: Buffer): void {
    if (this.#hash !== undefined) this.#hash.update(buffer);
    else if (this.#firstBuffer === undefined) this.#firstBuffer = buffer;
    else {
      this.#hash = createHash('md5').update(this.#firstBuffer).update(buffer);
      this.#firstBuffer = undefined;
    }
  }

  /** The next buffer, or undefined at the end (which is checked against the announced length). */
  async #pull(): Promise<Buffer | undefined> {
    let step: IteratorResult<Buffer>;
    try {
      step = await this.#source.next();
    } catch (error) {
      if (error instanceof ConnectorError) throw error;
      // The request stream fails only when its connection goes (closed, reset, or cut by
      // the HTTP parser, which answers a malformed body itself): nobody waits for an answer.
      throw new ClientAbortedError(`request body was cut short after ${this.total} bytes (${error instanceof Error ? error.message : String(error)}); nothing was stored`);
    }
    if (step.done === true) {
      const declared = this.#options.declaredLength;
      if (declared !== undefined && this.total !== declared) {
        throw new BadRequestError(`request body ended after ${this.total} of ${declared} bytes; nothing was stored`);
      }
      this.ended = true;
      return undefined;
    }
    const buffer = step.value;
    this.total += buffer.length;
    if (this.total > this.#options.maxBytes) {
      throw new TooLargeError(`request body is over the ${this.#options.maxBytes}-byte limit (CONNECTOR_MAX_BODY); nothing was stored`);
    }
    if (this.#options.declaredLength !== undefined && this.total > this.#options.declaredLength) {
      throw new BadRequestError(`request body is longer than its Content-Length of ${this.#options.declaredLength}; nothing was stored`);
    }
    this.#hashed(buffer);
    return buffer;
  }
}
