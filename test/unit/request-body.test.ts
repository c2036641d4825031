import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { BadRequestError, ClientAbortedError, InternalError, TooLargeError, UnavailableError } from '../../src/errors.ts';
import { MemoryBudget } from '../../src/memory-budget.ts';
import { chunkForBudget, receiveBody, type BodyOptions, type ReceivedBody } from '../../src/server/request-body.ts';
import type { BodyChunk, UploadBody } from '../../src/store/object-store.ts';

const CHUNK = 8;

async function* pieces(...parts: string[]): AsyncGenerator<Buffer> {
  for (const part of parts) yield Buffer.from(part);
}

function options(overrides: Partial<BodyOptions> = {}): BodyOptions {
  return { chunkBytes: CHUNK, maxBytes: 1000, declaredLength: undefined, budget: new MemoryBudget(1000), admissionTimeoutMs: 10_000, ...overrides };
}

function md5(text: string): string {
  return createHash('md5').update(text).digest('base64');
}

function text(chunk: BodyChunk): string {
  return Buffer.concat(chunk.buffers).toString();
}

/** The one chunk of a body that ended within its first chunk. */
async function whole(received: ReceivedBody): Promise<BodyChunk> {
  assert.equal(received.streamed, false, 'expected a body of one chunk');
  const chunk = await received.upload.next();
  assert.equal(chunk.last, true);
  return chunk;
}

function chunked(received: ReceivedBody): UploadBody {
  assert.equal(received.streamed, true, 'expected a streamed body');
  return received.upload;
}

/** What `promise` resolved to so far (undefined while pending). */
function settled<T>(promise: Promise<T>): () => T | undefined {
  let value: T | undefined;
  void promise.then((resolved) => { value = resolved; });
  return () => value;
}

function textOf(chunk: BodyChunk | undefined): string | undefined {
  return chunk === undefined ? undefined : text(chunk);
}

/** Lets every promise that can settle now settle. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise(setImmediate);
}

/** Every chunk of a chunked body, each handed back at once (its bytes read first, since its buffer is then reused). */
async function allChunks(body: UploadBody): Promise<(BodyChunk & { text: string })[]> {
  const chunks: (BodyChunk & { text: string })[] = [];
  for (;;) {
    const chunk = await body.next();
    chunks.push({ ...chunk, text: text(chunk) });
    body.done(chunk);
    if (chunk.last) return chunks;
  }
}

describe('receiveBody', () => {
  it('the MD5 is the same whether the body came in one buffer, several, or none', async () => {
    for (const parts of [['hello'], ['he', 'l', 'lo'], []]) {
      const text = parts.join('');
      const received = await receiveBody(pieces(...parts), options({ declaredLength: text.length }));
      assert.equal((await whole(received)).md5Base64, md5(text), JSON.stringify(parts));
      received.release();
    }
  });

  it('hands over a body within one chunk whole, with its MD5, holding only its size', async () => {
    const budget = new MemoryBudget(1000);
    const received = await receiveBody(pieces('hel', 'lo'), options({ declaredLength: 5, budget }));
    const body = await whole(received);
    assert.equal(Buffer.concat(body.buffers).toString(), 'hello');
    assert.equal(body.size, 5);
    assert.equal(body.md5Base64, md5('hello'));
    assert.equal(budget.used('body'), 5);
    received.release();
    received.release();
    assert.equal(budget.used('body'), 0);
  });

  it('gives back the rest of the chunk granted to a short body of unannounced length', async () => {
    const budget = new MemoryBudget(1000);
    const received = await receiveBody(pieces('abc'), options({ budget }));
    await whole(received);
    assert.equal(budget.used('body'), 3);
    received.release();
  });

  it('streams a longer body in exact chunks (split across arriving buffers), the MD5 on the last', async () => {
    const body = 'abcdefghijklmnopqrstu';
    const received = await receiveBody(pieces('abcde', 'fghijklmnop', 'qrstu'), options());
    const chunks = await allChunks(chunked(received));
    assert.deepEqual(chunks.map((chunk) => chunk.text), ['abcdefgh', 'ijklmnop', 'qrstu']);
    assert.deepEqual(chunks.map((chunk) => chunk.offset), [0, 8, 16]);
    assert.deepEqual(chunks.map((chunk) => chunk.last), [false, false, true]);
    assert.equal(chunks.at(-1)?.md5Base64, md5(body));
    assert.equal(chunks[0]?.md5Base64, undefined);
    assert.equal(received.receivedBytes(), body.length);
    received.release();
  });

  it('refuses a chunk past the last, for a body of one chunk and a streamed one alike', async () => {
    for (const parts of [['abc'], ['abcdefgh', 'ij']]) {
      const received = await receiveBody(pieces(...parts), options());
      await allChunks(received.upload);
      await assert.rejects(received.upload.next(), InternalError, JSON.stringify(parts));
      received.release();
    }
  });

  it('ends an unannounced body that fills its last chunk exactly with an empty last chunk', async () => {
    const received = await receiveBody(pieces('abcdefgh', 'ijklmnop'), options());
    const chunks = await allChunks(chunked(received));
    assert.deepEqual(chunks.map((chunk) => [chunk.size, chunk.last]), [[8, false], [8, false], [0, true]]);
    received.release();
  });

  it('knows the last chunk of an announced body that fills it exactly', async () => {
    const received = await receiveBody(pieces('abcdefgh', 'ijklmnop'), options({ declaredLength: 16 }));
    assert.equal(chunked(received).declaredSize, 16);
    const chunks = await allChunks(chunked(received));
    assert.deepEqual(chunks.map((chunk) => [chunk.size, chunk.last]), [[8, false], [8, true]]);
    received.release();
  });

  it('holds two chunks when the budget has room: the next is received while the first is out', async () => {
    const budget = new MemoryBudget(2 * CHUNK);
    const received = await receiveBody(pieces('a'.repeat(8), 'b'.repeat(8), 'c'.repeat(8), 'd'), options({ budget }));
    const upload = chunked(received);
    assert.equal(budget.used('body'), 2 * CHUNK);
    const first = await upload.next();
    const second = await upload.next();
    assert.equal(text(second), 'bbbbbbbb');
    const third = settled<BodyChunk>(upload.next());
    await settle();
    assert.equal(third(), undefined, 'a third chunk waits until the first is handed back');
    upload.done(first);
    await settle();
    assert.equal(textOf(third()), 'cccccccc');
    received.release();
    assert.equal(budget.used('body'), 0);
  });

  it('holds one chunk when the budget has room for only one: receiving waits for the upload', async () => {
    const budget = new MemoryBudget(CHUNK + 4);
    const received = await receiveBody(pieces('a'.repeat(8), 'b'.repeat(8), 'c'), options({ budget }));
    const upload = chunked(received);
    assert.equal(budget.used('body'), CHUNK);
    const first = await upload.next();
    const second = settled<BodyChunk>(upload.next());
    await settle();
    assert.equal(second(), undefined, 'the second chunk waits until the first is handed back');
    upload.done(first);
    await settle();
    assert.equal(textOf(second()), 'bbbbbbbb');
    received.release();
  });

  it('refuses a body shorter than its Content-Length and one over the limit; a body whose stream fails is the client gone', async () => {
    await assert.rejects(receiveBody(pieces('abcde'), options({ declaredLength: 7 })), (error: unknown) =>
      error instanceof BadRequestError && /ended after 5 of 7 bytes/.test(error.message));
    await assert.rejects(receiveBody(pieces('x'.repeat(600), 'y'.repeat(600)), options({ chunkBytes: 2048, budget: new MemoryBudget(4096) })), TooLargeError);
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.from('abc');
      throw new Error('socket hang up');
    }
    await assert.rejects(receiveBody(failing(), options()), (error: unknown) =>
      error instanceof ClientAbortedError && /cut short after 3 bytes \(socket hang up\)/.test(error.message));
  });

  it('copies the chunks of a streamed body into one reused buffer when each is handed back before the next', async () => {
    const received = await receiveBody(pieces('a'.repeat(8), 'b'.repeat(8), 'c'.repeat(8), 'd'), options({ declaredLength: 25 }));
    const body = chunked(received);
    const seen = new Set<ArrayBufferLike>();
    const texts: string[] = [];
    for (let chunk = await body.next(); ; chunk = await body.next()) {
      texts.push(text(chunk));
      for (const buffer of chunk.buffers) seen.add(buffer.buffer);
      body.done(chunk);
      if (chunk.last) break;
    }
    assert.deepEqual(texts, ['aaaaaaaa', 'bbbbbbbb', 'cccccccc', 'd']);
    assert.equal(seen.size, 1, 'one buffer served every chunk');
    received.release();
  });

  it('fails the chunk being received when a streamed body is cut, and its memory can be given back', async () => {
    const budget = new MemoryBudget(1000);
    const received = await receiveBody(pieces('abcdefgh', 'ij'), options({ declaredLength: 20, budget }));
    const upload = chunked(received);
    const first = await upload.next();
    upload.done(first);
    await assert.rejects(upload.next(), /ended after 10 of 20 bytes/);
    received.release();
    assert.equal(budget.used('body'), 0);
  });

  it('ends its source when the body is refused or released before its end, so nothing of the source outlives the request', async () => {
    let ended = 0;
    async function* watched(...parts: string[]): AsyncGenerator<Buffer> {
      try {
        for (const part of parts) yield Buffer.from(part);
      } finally {
        ended += 1;
      }
    }
    await assert.rejects(receiveBody(watched('x'.repeat(600), 'y'.repeat(600), 'z'), options({ chunkBytes: 2048, budget: new MemoryBudget(4096) })), TooLargeError);
    await settle();
    assert.equal(ended, 1, 'a body over the limit');
    const received = await receiveBody(watched('a'.repeat(8), 'b'.repeat(8), 'c'), options());
    received.release();
    await settle();
    assert.equal(ended, 2, 'a streamed body whose upload failed after its first chunk');
  });

  it('waits for room before reading, answers Expect only once admitted, and gives up with 503', async () => {
    const budget = new MemoryBudget(10);
    budget.reserve(10, 'listing');
    let admitted = false;
    let read = false;
    async function* watched(): AsyncGenerator<Buffer> {
      read = true;
      yield Buffer.from('abc');
    }
    const pending = receiveBody(watched(), options({ budget, declaredLength: 3, onAdmitted: () => { admitted = true; } }));
    await settle();
    assert.equal(admitted, false);
    assert.equal(read, false, 'nothing is read while the body waits');
    budget.release(10, 'listing');
    const received = await pending;
    assert.equal(admitted, true);
    received.release();

    budget.reserve(10, 'listing');
    await assert.rejects(receiveBody(pieces('abc'), options({ budget, declaredLength: 3, admissionTimeoutMs: 20 })), UnavailableError);
    assert.equal(budget.used('body'), 0);
  });
});

describe('chunkForBudget', () => {
  it('keeps the configured chunk when two fit, and lowers it in 256 KiB steps when not', () => {
    const MIB = 1024 * 1024;
    assert.equal(chunkForBudget(8 * MIB, 40 * MIB), 8 * MIB);
    assert.equal(chunkForBudget(8 * MIB, 10 * MIB), 5 * MIB);
    assert.equal(chunkForBudget(8 * MIB, 100 * 1024), 256 * 1024);
  });
});
