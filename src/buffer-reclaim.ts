/**
 * Dead network buffers reclaimed at a pace set by the bytes that pass, not by JavaScript
 * allocation.
 *
 * V8 collects its young generation when the JavaScript heap fills, but a 64 KiB socket
 * buffer costs that heap only ~100 bytes: a connector streaming a large object allocates
 * little JavaScript, so its spent socket buffers pile up outside the heap until V8's
 * external-memory limit (tens of MiB over the last collection) forces a full collection.
 * Measured with the image's flags, one 96 MiB upload in 8 MiB chunks: peak RSS 110 MiB,
 * 42.7 MiB of array buffers for a 16 MiB window; with a young-generation collection every
 * 4 MiB, 89.7 MiB and 23.3 MiB; every 2 MiB took a ranged GET 8 MiB lower still
 * (docs/memory.md). One such collection costs a fraction of a millisecond at the image's
 * 2 MiB semi-space. Buffers a transfer kept for its whole length are old by its end;
 * those are collected when it ends.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Bytes of buffers passed between two collections. */
const PACE_BYTES = 2 * 1024 * 1024;
/** Least time between two full collections asked for by transfers that ended. */
const MAJOR_INTERVAL_MS = 100;

type Collect = (options: { type: 'minor' | 'major'; execution?: 'async' }) => Promise<void> | undefined;

let collect: Collect | undefined;
let sinceLast = 0;
let lastMajor = 0;
/** Young-generation collections this module has asked for. */
let minorCollections = 0;

/** Turns pacing on for this process (the connector does at start; libraries and tests need not). */
export function enableBufferReclaim(): void {
  setFlagsFromString('--expose-gc');
  collect = runInNewContext('gc') as Collect;
}

/** Notes `bytes` of network buffers that were received or sent; collects the young generation every few MiB. */
export function noteBufferBytes(bytes: number): void {
  if (collect === undefined) return;
  sinceLast += bytes;
  if (sinceLast < PACE_BYTES) return;
  sinceLast = 0;
  minorCollections += 1;
  void collect({ type: 'minor' });
}

/** Taken when a transfer allocates its pool buffers; given back to reclaimLargeBuffers at its end. */
export function reclaimMark(): number {
  return minorCollections;
}

/**
 * A large transfer ended and dropped its pool buffers (buffer-pool.ts), allocated when
 * `mark` was taken. Buffers that lived through two young-generation collections are in
 * the old generation, which V8 would otherwise collect only after tens of MiB more of
 * buffers: a full collection is started (incremental, at most one per 100 ms). A
 * transfer that ended sooner (a GET dropped after its first bytes) left its buffers young,
 * and a young-generation collection takes them: a full one there cost the next request
 * 5 to 15 ms of pause (measured with `--trace-gc`, docs/memory.md).
 */
export function reclaimLargeBuffers(mark: number): void {
  if (collect === undefined) return;
  if (minorCollections - mark < 2) {
    minorCollections += 1;
    void collect({ type: 'minor' });
    return;
  }
  const now = performance.now();
  if (now - lastMajor < MAJOR_INTERVAL_MS) return;
  lastMajor = now;
  void collect({ type: 'major', execution: 'async' })?.catch(() => undefined);
}
