import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { DownloadStoppedError, rangedBody, worthRanges, type RangedReadOptions, type RangeMemory } from '../../src/store/gcs/ranged-download.ts';

const RANGE = 1024;

/** An object whose every byte says where it is (mod 251), so misplaced bytes show. */
function objectBytes(size: number): Buffer {
  return Buffer.from(Array.from({ length: size }, (_, i) => i % 251));
}

function countingMemory(limit: number): RangeMemory & { used: number; peak: number } {
  const memory = {
    used: 0,
    peak: 0,
    tryReserve(bytes: number) {
      if (memory.used + bytes > limit) return false;
      memory.used += bytes;
      memory.peak = Math.max(memory.peak, memory.used);
      return true;
    },
    release(bytes: number) { memory.used -= bytes; },
  };
  return memory;
}

interface Fetches {
  readonly fetchRange: RangedReadOptions['fetchRange'];
  /** Ranges asked for, and the most in flight at once. */
  readonly asked: string[];
  maxInFlight: number;
  readonly signals: AbortSignal[];
}

/** Fetches served from `object`, later ranges answering sooner (to show the order is restored). */
function fetchesOf(object: Buffer, failAt?: number): Fetches {
  let inFlight = 0;
  const fetches: Fetches = {
    asked: [],
    maxInFlight: 0,
    signals: [],
    async fetchRange(start, end, target, signal) {
      fetches.asked.push(`${start}-${end}`);
      fetches.signals.push(signal);
      inFlight += 1;
      fetches.maxInFlight = Math.max(fetches.maxInFlight, inFlight);
      try {
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, 20 - start / RANGE)));
        if (start === failAt) throw new Error('range failed');
        object.copy(target, 0, start, end + 1);
      } finally {
        inFlight -= 1;
      }
    },
  };
  return fetches;
}

async function readAll(stream: Readable): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return chunks;
}

describe('rangedBody', () => {
  it('is used only for objects over twice the range, with streams to spare', () => {
    assert.equal(worthRanges(2 * RANGE, { rangeBytes: RANGE, streams: 4 }), false);
    assert.equal(worthRanges(2 * RANGE + 1, { rangeBytes: RANGE, streams: 4 }), true);
    assert.equal(worthRanges(100 * RANGE, { rangeBytes: RANGE, streams: 0 }), false);
  });

  it('serves the first range from the plain GET and the rest in order, whatever order the ranges arrive in', async () => {
    const object = objectBytes(10 * RANGE + 17);
    const fetches = fetchesOf(object);
    // Each range in flight is charged twice its buffer (its garbage around it).
    const memory = countingMemory(6 * RANGE);
    const body = rangedBody(Readable.from([object.subarray(0, 700), object.subarray(700, 5000)]), object.length, { rangeBytes: RANGE, streams: 4, memory, fetchRange: fetches.fetchRange });
    const chunks = await readAll(body);
    assert.ok(Buffer.concat(chunks).equals(object));
    assert.deepEqual(fetches.asked, Array.from({ length: 10 }, (_, i) => `${(i + 1) * RANGE}-${Math.min((i + 2) * RANGE, object.length) - 1}`));
    assert.equal(memory.peak, 6 * RANGE, 'as many slots as the memory allowed (3 of 4), each charged twice its range');
    assert.ok(fetches.maxInFlight <= 3, `at most the slots in flight (${fetches.maxInFlight})`);
    assert.equal(memory.used, 0, 'given back at the end');
  });

  it('reads one stream when not even one range fits in memory', () => {
    const first = Readable.from([Buffer.alloc(10)]);
    assert.equal(rangedBody(first, 10 * RANGE, { rangeBytes: RANGE, streams: 4, memory: countingMemory(2 * RANGE - 1), fetchRange: fetchesOf(Buffer.alloc(0)).fetchRange }), first);
  });

  it('a failed range fails the stream after the bytes before it, and gives the memory back', async () => {
    const object = objectBytes(6 * RANGE);
    const memory = countingMemory(4 * RANGE);
    const body = rangedBody(Readable.from([object]), object.length, { rangeBytes: RANGE, streams: 2, memory, fetchRange: fetchesOf(object, 3 * RANGE).fetchRange });
    const received: Buffer[] = [];
    await assert.rejects(async () => { for await (const chunk of body) received.push(chunk as Buffer); }, /range failed/);
    assert.ok(Buffer.concat(received).equals(object.subarray(0, 3 * RANGE)), 'exactly the bytes before the failed range');
    assert.equal(memory.used, 0);
  });

  it('a reader that stops aborts the ranges in flight and gives the memory back', async () => {
    const object = objectBytes(20 * RANGE);
    const memory = countingMemory(4 * RANGE);
    const fetches = fetchesOf(object);
    const body = rangedBody(Readable.from([object]), object.length, { rangeBytes: RANGE, streams: 4, memory, fetchRange: fetches.fetchRange });
    let read = 0;
    // The first range, then one piece of the second: the ranges are in flight by then.
    for await (const _chunk of body) if (++read === 2) break;
    // The stop reaches the reader at its next step, once the range it waits for is in.
    if (!body.closed) await new Promise((resolve) => { body.once('close', resolve); });
    for (let i = 0; i < 50 && memory.used > 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.ok(fetches.signals.length > 0);
    assert.ok(fetches.signals.every((signal) => signal.aborted && signal.reason instanceof DownloadStoppedError));
    assert.equal(memory.used, 0);
  });

  it('a reader that stops within the first 256 KiB costs no ranged reads, and gives the memory back', async () => {
    const range = 1024 * 1024;
    const object = Buffer.alloc(4 * range, 7);
    const memory = countingMemory(4 * range);
    const fetches = fetchesOf(object);
    const pieces = Array.from({ length: 16 }, (_, i) => object.subarray(i * 64 * 1024, (i + 1) * 64 * 1024));
    const body = rangedBody(Readable.from(pieces), object.length, { rangeBytes: range, streams: 4, memory, fetchRange: fetches.fetchRange });
    let read = 0;
    for await (const _chunk of body) if (++read === 3) break;
    if (!body.closed) await new Promise((resolve) => { body.once('close', resolve); });
    assert.deepEqual(fetches.asked, []);
    assert.equal(memory.used, 0);
  });

  it('starts the ranges once 256 KiB of the first range went out, before the first range ends', async () => {
    const range = 1024 * 1024;
    const object = objectBytes(4 * range);
    const fetches = fetchesOf(object);
    let pulled = 0;
    const first = Readable.from((function* () {
      for (let i = 0; i < 16; i++) {
        pulled += 64 * 1024;
        yield object.subarray(i * 64 * 1024, (i + 1) * 64 * 1024);
      }
    })());
    let pulledAtFirstAsk: number | undefined;
    const body = rangedBody(first, object.length, {
      rangeBytes: range, streams: 4, memory: countingMemory(4 * range),
      fetchRange: (start, end, target, signal) => {
        pulledAtFirstAsk ??= pulled;
        return fetches.fetchRange(start, end, target, signal);
      },
    });
    assert.ok(Buffer.concat(await readAll(body)).equals(object));
    assert.ok(pulledAtFirstAsk !== undefined && pulledAtFirstAsk >= 256 * 1024 && pulledAtFirstAsk < range, `first range asked after ${pulledAtFirstAsk} bytes of the first response`);
  });
});
