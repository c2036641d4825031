import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { BadRequestError, TooLargeError, UnavailableError } from '../../src/errors.ts';
import { MemoryBudget } from '../../src/memory-budget.ts';
import { spoolBody } from '../../src/server/body-spool.ts';

async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
  for (const part of parts) yield Buffer.from(part);
}

async function* failing(): AsyncGenerator<Buffer> {
  yield Buffer.alloc(100, 1);
  yield Buffer.alloc(100, 2);
  throw new Error('aborted');
}

async function readAll(source: readonly Buffer[] | Readable): Promise<string> {
  if (Array.isArray(source)) return Buffer.concat(source as readonly Buffer[]).toString();
  const parts: Buffer[] = [];
  for await (const chunk of source) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString();
}

describe('spoolBody', () => {
  const options = (dir: string, declaredLength?: number, budget = new MemoryBudget(1024 * 1024)) => ({ memoryLimitBytes: 8, maxBytes: 1000, tmpDir: dir, declaredLength, budget });

  it('keeps a small body in memory with its MD5', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-'));
    const body = await spoolBody(chunks('hello'), options(dir, 5));
    assert.equal(body.spilled, false);
    assert.equal(body.size, 5);
    assert.equal(body.md5Base64, createHash('md5').update('hello').digest('base64'));
    assert.equal(await readAll(body.open(0)), 'hello');
    assert.equal(await readAll(body.open(2)), 'llo');
  });

  it('spills past the threshold and reads back from any offset, then removes its file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-'));
    const body = await spoolBody(chunks('abcdef', 'ghij', 'klmnop'), options(dir));
    assert.equal(body.spilled, true);
    assert.equal(readdirSync(dir).length, 1);
    assert.equal(await readAll(body.open(0)), 'abcdefghijklmnop');
    assert.equal(await readAll(body.open(4)), 'efghijklmnop');
    assert.equal(await readAll(body.open(12)), 'mnop');
    await body.dispose();
    assert.deepEqual(readdirSync(dir), []);
  });

  it('a body that fails mid-way throws BadRequestError and leaves no file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-'));
    await assert.rejects(spoolBody(failing(), options(dir)), BadRequestError);
    assert.deepEqual(readdirSync(dir), []);
  });

  it('a body shorter than its Content-Length throws and leaves no file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-'));
    await assert.rejects(spoolBody(chunks('abcdefghij'), options(dir, 20)), /ended after 10 of 20 bytes/);
    assert.deepEqual(readdirSync(dir), []);
  });

  it('a body over the limit throws TooLargeError and leaves no file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-'));
    await assert.rejects(spoolBody(chunks('x'.repeat(600), 'y'.repeat(600)), options(dir)), TooLargeError);
    assert.deepEqual(readdirSync(dir), []);
  });

  it('a spool that cannot be written (directory gone, disk full) is unavailable, not the client\'s fault', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'asya-spool-gone-')), 'missing');
    await assert.rejects(spoolBody(chunks('more than eight bytes'), options(dir)), (error: unknown) =>
      error instanceof UnavailableError && /cannot spool the request body/.test(error.message));
  });
});
