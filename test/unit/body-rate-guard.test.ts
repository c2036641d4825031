import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { BadRequestError } from '../../src/errors.ts';
import { rateGuarded } from '../../src/server/body-rate-guard.ts';

function trickle(chunks: number, bytes: number, pauseMs: number): Readable {
  return Readable.from((async function* () {
    for (let i = 0; i < chunks; i++) {
      await sleep(pauseMs);
      yield Buffer.alloc(bytes, i);
    }
  })(), { objectMode: false });
}

async function drain(source: AsyncIterable<Buffer>): Promise<number> {
  let total = 0;
  for await (const chunk of source) total += chunk.length;
  return total;
}

describe('rateGuarded', () => {
  it('passes a body that keeps the rate through unchanged', async () => {
    assert.equal(await drain(rateGuarded(trickle(6, 1000, 10), { minBytesPerSecond: 1000, windowMs: 100 })), 6000);
  });

  it('refuses a body that brings too little in a window, saying what it brought and the minimum', async () => {
    await assert.rejects(drain(rateGuarded(trickle(10, 1, 30), { minBytesPerSecond: 1000, windowMs: 100 })), (error: unknown) =>
      error instanceof BadRequestError && /under the minimum of 1000 bytes\/s/.test(error.message) && /nothing was stored/.test(error.message));
  });

  it('passes the failure of the stream on', async () => {
    const failing = Readable.from((async function* () {
      yield Buffer.from('x');
      await sleep(10);
      throw new Error('connection reset');
    })(), { objectMode: false });
    await assert.rejects(drain(rateGuarded(failing, { minBytesPerSecond: 0, windowMs: 1000 })), /connection reset/);
  });

  it('with a rate of 0 still refuses a body that stops altogether', async () => {
    await assert.rejects(drain(rateGuarded(trickle(2, 10, 300), { minBytesPerSecond: 0, windowMs: 100 })), BadRequestError);
  });

  it('hands over a body whose announced bytes are all in hand at once, without waiting for its end', async () => {
    // A stream that holds all 3 announced bytes but never ends: only the shortcut finishes.
    const source = new Readable({ read() { /* nothing more, never an end */ } });
    source.push(Buffer.from('abc'));
    const started = performance.now();
    assert.equal(await drain(rateGuarded(source, { minBytesPerSecond: 0, windowMs: 60_000 }, 3)), 3);
    assert.ok(performance.now() - started < 30_000, 'did not wait for a window');
  });

  it('a body with fewer bytes in hand than announced is still paced', async () => {
    const source = new Readable({ read() { /* the rest never comes */ } });
    source.push(Buffer.from('ab'));
    await assert.rejects(drain(rateGuarded(source, { minBytesPerSecond: 0, windowMs: 100 }, 3)), BadRequestError);
  });
});

