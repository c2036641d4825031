import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { resumingBody, type ResumeOptions } from '../../src/store/gcs/resumed-download.ts';
import { isStoreError, StoreError } from '../../src/store/store-error.ts';

const OBJECT = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));

/** The object's bytes from `offset`, breaking with `error` after `cutAfter` bytes when given. */
function source(offset: number, cutAfter?: number, error: Error = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })): Readable {
  const end = cutAfter === undefined ? OBJECT.length : Math.min(OBJECT.length, offset + cutAfter);
  return Readable.from((async function* () {
    for (let at = offset; at < end; at += 100) yield OBJECT.subarray(at, Math.min(at + 100, end));
    if (end < OBJECT.length) throw error;
  })(), { objectMode: false });
}

function options(resumes: (offset: number) => Readable, asked: number[], size: number | undefined = OBJECT.length): ResumeOptions {
  return {
    size,
    retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
    target: 'gs://b/o',
    mapError: (error) => (error instanceof StoreError ? error : new StoreError('unavailable', String(error))),
    resumeAt: async (offset) => { asked.push(offset); return resumes(offset); },
    onResume: () => undefined,
  };
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('resumingBody', () => {
  it('asks for the rest from the byte where the stream broke, and delivers the object whole', async () => {
    const asked: number[] = [];
    const body = resumingBody(source(0, 250), options((offset) => source(offset, offset < 500 ? 300 : undefined), asked));
    assert.deepEqual(await readAll(body), OBJECT);
    assert.deepEqual(asked, [250, 550]);
  });

  it('treats a body that ends before the size GCS announced as a break', async () => {
    const asked: number[] = [];
    const short = Readable.from([OBJECT.subarray(0, 400)]);
    const body = resumingBody(short, options((offset) => source(offset), asked));
    assert.deepEqual(await readAll(body), OBJECT);
    assert.deepEqual(asked, [400]);
  });

  it('gives up after maxAttempts breaks in a row without a byte, with the error', async () => {
    const asked: number[] = [];
    const body = resumingBody(source(0, 100), options((offset) => source(offset, 0), asked));
    await assert.rejects(readAll(body), (error: unknown) => isStoreError(error, 'unavailable'));
    assert.deepEqual(asked, [100, 100], 'two resumes, then the third break in a row is final');
  });

  it('does not resume an error that is not transient', async () => {
    const asked: number[] = [];
    const body = resumingBody(source(0, 100, new StoreError('refused', 'refused')), options((offset) => source(offset), asked));
    await assert.rejects(readAll(body), (error: unknown) => isStoreError(error, 'refused'));
    assert.deepEqual(asked, []);
  });

  it('a reader that stops early (a ranged download takes only the first range) ends it without a resume', async () => {
    const asked: number[] = [];
    // Longer than the stream buffers ahead, so the reader leaves while bytes still come.
    const piece = Buffer.alloc(64 * 1024, 1);
    const first = Readable.from((async function* () { for (let i = 0; i < 64; i++) yield piece; })(), { objectMode: false });
    const body = resumingBody(first, { ...options((offset) => source(offset), asked), size: 64 * piece.length });
    for await (const chunk of body) {
      assert.ok((chunk as Buffer).length > 0);
      break;
    }
    // Past the longest backoff a resume would wait (retry.maxDelayMs).
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(asked, [], 'no resume was asked for');
    assert.equal(first.destroyed, true);
  });

  it('stops the stream it reads when its reader goes away', async () => {
    const first = source(0);
    const body = resumingBody(first, options((offset) => source(offset), []));
    for await (const chunk of body) {
      assert.ok((chunk as Buffer).length > 0);
      break;
    }
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(first.destroyed, true);
  });
});
