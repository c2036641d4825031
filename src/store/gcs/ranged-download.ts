/**
 * A large download served by several ranged reads in flight. GCS serves one stream far
 * below what a pod's network takes; `gcloud storage` and gcsfuse split large reads into
 * parallel ranges for that reason.
 *
 * The first GET is the ordinary one (its first bytes go out at once, so the time to the
 * first byte is a single stream's); its response serves the first range and is then
 * closed. The rest of the object comes in ranges of the pool's buffer size, each a GET
 * pinned to the generation the first response named (`generation=`), so an overwrite
 * during the read can never mix two versions: the pinned generation is gone, the read
 * fails, and the response is cut, never padded. Ranges are fetched whole into the
 * download's pool buffers (buffer-pool.ts), at most `slots` at a time (memory reserved once for the whole download), and
 * written out in order as short-lived copies, so that a pool buffer is free again as soon
 * as its range is copied out, whatever the client does with the copies; a client that
 * stops reading stops the fetching once the slots are full.
 */
import { Readable } from 'node:stream';
import { BufferPool } from '../../buffer-pool.ts';
import { rangeCost } from '../../memory-costs.ts';
import { StoreError } from '../store-error.ts';

/** Size of the copies a range is written out in. */
const PIECE_BYTES = 64 * 1024;
/**
 * Bytes of the first response that go out before the ranges start. The first bytes then
 * leave as a single stream's would (ranges started with them delayed them,
 * docs/benchmarks-large.md), and a reader that wanted only the head of the object, or
 * gave up at once, costs no ranged reads.
 */
const RANGES_AFTER_BYTES = 256 * 1024;

/** Why the ranged reads of a download stopped: its reader went away. Never retried. */
export class DownloadStoppedError extends Error {
  constructor() {
    super('the download was stopped by its reader');
    this.name = 'DownloadStoppedError';
  }
}

/** Memory for the ranges in flight, reserved once per download. */
export interface RangeMemory {
  tryReserve(bytes: number): boolean;
  release(bytes: number): void;
}

export interface RangedReadOptions {
  readonly rangeBytes: number;
  /** Most ranges in flight at once, besides the first response. */
  readonly streams: number;
  readonly memory: RangeMemory;
  /**
   * Copies bytes `start` to `end` (inclusive) of the pinned generation into `target`;
   * `signal` aborts with a DownloadStoppedError.
   */
  readonly fetchRange: (start: number, end: number, target: Buffer, signal: AbortSignal) => Promise<void>;
}

/** True when an object of `size` bytes is worth reading in ranges. */
export function worthRanges(size: number, options: Pick<RangedReadOptions, 'rangeBytes' | 'streams'>): boolean {
  return options.streams > 0 && size > 2 * options.rangeBytes;
}

/**
 * The object's bytes from `first` (the plain GET's body) and ranged reads. Answers
 * `first` unchanged when the memory for even one range is not free.
 */
export function rangedBody(first: Readable, size: number, options: RangedReadOptions): Readable {
  let slots = 0;
  while (slots < options.streams && options.memory.tryReserve(rangeCost(options.rangeBytes))) slots += 1;
  if (slots === 0) return first;
  return Readable.from(inOrder(first, size, slots, options), { objectMode: false });
}

interface Range {
  readonly buffer: Buffer;
  readonly length: number;
  readonly fetched: Promise<void>;
}

async function* inOrder(first: Readable, size: number, slots: number, options: RangedReadOptions): AsyncGenerator<Buffer> {
  // The download's own range buffers, reused range after range and dropped with it.
  const pool = new BufferPool(options.rangeBytes);
  const controller = new AbortController();
  const inFlight: Range[] = [];
  let nextStart = pool.bufferBytes;
  const launch = (): void => {
    while (inFlight.length < slots && nextStart < size) {
      const start = nextStart;
      const end = Math.min(start + pool.bufferBytes, size) - 1;
      const buffer = pool.take();
      const fetched = options.fetchRange(start, end, buffer, controller.signal);
      // Its failure is taken when its turn comes; until then it is not unhandled.
      fetched.catch(() => undefined);
      inFlight.push({ buffer, length: end - start + 1, fetched });
      nextStart = end + 1;
    }
  };
  try {
    yield* firstRange(first, pool.bufferBytes, launch);
    launch();
    for (let range = inFlight[0]; range !== undefined; range = inFlight[0]) {
      await range.fetched;
      for (let at = 0; at < range.length; at += PIECE_BYTES) {
        yield Buffer.from(range.buffer.subarray(at, Math.min(at + PIECE_BYTES, range.length)));
      }
      inFlight.shift();
      pool.give(range.buffer);
      launch();
    }
  } finally {
    controller.abort(new DownloadStoppedError());
    first.destroy();
    options.memory.release(slots * rangeCost(pool.bufferBytes));
  }
}

/** The first `limit` bytes of the plain GET's body; `startRanges` runs once RANGES_AFTER_BYTES of them went out. */
async function* firstRange(first: Readable, limit: number, startRanges: () => void): AsyncGenerator<Buffer> {
  let sent = 0;
  let started = false;
  for await (const chunk of first as AsyncIterable<Buffer>) {
    const piece = chunk.length >= limit - sent ? chunk.subarray(0, limit - sent) : chunk;
    yield piece;
    sent += piece.length;
    if (!started && sent >= RANGES_AFTER_BYTES) {
      started = true;
      startRanges();
    }
    if (sent === limit) return;
  }
  throw new StoreError('unavailable', `GCS ended the download after ${sent} bytes, before the first ${limit}`);
}
