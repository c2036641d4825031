/**
 * Pure logic of the client library: mount parsing and matching, open flags, the backoff
 * of runWithConflictRetry, fs error mapping, and the content buffer's spill.
 */
import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ContentBuffer } from '../../src/client/content-buffer.ts';
import { isConflictError, mountOf, parseMounts, runWithConflictRetry, StateFsError } from '../../src/client/index.ts';
import { errorFromAnswer } from '../../src/client/fs-errors.ts';
import { parseOpenFlags } from '../../src/client/open-flags.ts';

describe('parseMounts', () => {
  it('reads name:/path[:fields] entries separated by ";", with the socket from the socket dir', () => {
    assert.deepEqual(parseMounts('weights:/state/weights:write=buffered; cache:/state/cache/:cas=off:socket=/tmp/c.sock', '/run/s'), [
      { name: 'weights', path: '/state/weights', socketPath: '/run/s/weights.sock', writeMode: 'buffered', compareAndSet: true },
      { name: 'cache', path: '/state/cache', socketPath: '/tmp/c.sock', writeMode: 'buffered', compareAndSet: false },
    ]);
    assert.deepEqual(parseMounts(''), []);
    assert.equal(parseMounts('a:/x')[0]?.socketPath, '/var/run/asya/state/a.sock');
  });

  it('refuses what it cannot use, saying what to fix', () => {
    assert.throws(() => parseMounts('a:relative'), /the path must be absolute/);
    assert.throws(() => parseMounts(':/x'), /the name must be/);
    assert.throws(() => parseMounts('a:/x:write=sometimes'), /write="sometimes" is not a valid value; known: write=buffered\|passthrough/);
    assert.throws(() => parseMounts('a:/x:socket=relative.sock'), /socket="relative.sock" is not a valid value/);
    assert.throws(() => parseMounts('a:/'), /mounting over \//);
    assert.throws(() => parseMounts('a:/x;a:/y'), /appears twice/);
  });

  it('accepts the Asya runtime\'s own strings: comma options, spaces around "=", trailing ";" and "/"', () => {
    const warned: string[] = [];
    const parse = (spec: string): ReturnType<typeof parseMounts> => parseMounts(spec, '/var/run/asya/state', (key) => { warned.push(key); });
    const meta = { name: 'meta', path: '/state/meta', socketPath: '/var/run/asya/state/meta.sock', writeMode: 'buffered', compareAndSet: true };
    assert.deepEqual(parse('meta:/state/meta:write=buffered'), [meta]);
    assert.deepEqual(parse('media:/state/media:write=passthrough'), [{ ...meta, name: 'media', path: '/state/media', socketPath: '/var/run/asya/state/media.sock', writeMode: 'passthrough' }]);
    assert.deepEqual(parse('meta:/state/meta:write=buffered;media:/state/media:write=passthrough').map((m) => [m.name, m.writeMode]), [['meta', 'buffered'], ['media', 'passthrough']]);
    assert.deepEqual(parse('meta:/state/meta:write=buffered;'), [meta]);
    assert.deepEqual(parse('meta:/state/meta:write = buffered'), [meta]);
    assert.deepEqual(parse('meta:/state/meta/:write=buffered'), [meta]);
    assert.deepEqual(parse('meta:/state/meta:write=buffered,cache=no'), [meta]);
    assert.deepEqual(parse('meta:/state/meta: write=passthrough , cas=off , socket=/tmp/m.sock'), [{ ...meta, writeMode: 'passthrough', compareAndSet: false, socketPath: '/tmp/m.sock' }]);
    assert.deepEqual(parse('meta:/state/meta:novalue,write=buffered'), [meta], 'a piece without "=" is ignored, as the runtime does');
    assert.deepEqual(warned, ['cache']);
  });

  it('warns once per unknown option key, through process warnings by default', async () => {
    const warnings: string[] = [];
    const listener = (warning: Error): void => { warnings.push(warning.message); };
    process.on('warning', listener);
    try {
      parseMounts('a:/a:zoom=1;b:/b:zoom=2');
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', listener);
    }
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /option "zoom" is not known here and is ignored/);
  });

  it('mountOf: the longest matching mount wins; a shared string prefix is not a match', () => {
    const mounts = parseMounts('outer:/state;inner:/state/deep');
    assert.equal(mountOf(mounts, '/state/deep/x')?.name, 'inner');
    assert.equal(mountOf(mounts, '/state/deep')?.name, 'inner');
    assert.equal(mountOf(mounts, '/state/deeper')?.name, 'outer');
    assert.equal(mountOf(mounts, '/statement'), undefined);
  });
});

describe('parseOpenFlags', () => {
  it('maps string flags and their fs.constants forms to the same modes', () => {
    assert.deepEqual(parseOpenFlags('w'), parseOpenFlags(constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC));
    assert.deepEqual(parseOpenFlags('a+'), parseOpenFlags(constants.O_RDWR | constants.O_CREAT | constants.O_APPEND));
    assert.deepEqual(parseOpenFlags('r'), parseOpenFlags(constants.O_RDONLY));
    assert.equal(parseOpenFlags('wx')?.exclusive, true);
    assert.equal(parseOpenFlags('r+')?.create, false);
    assert.equal(parseOpenFlags('rw'), undefined);
    assert.equal(parseOpenFlags(-1), undefined);
  });
});

describe('runWithConflictRetry', () => {
  const conflict = (): StateFsError => new StateFsError('EEXIST', 'close', '/state/x', undefined, { reason: 'generation_mismatch' });

  it('runs the handler again after a conflict and answers its result; onRetry sees each retry', async () => {
    let runs = 0;
    const retries: number[] = [];
    const result = await runWithConflictRetry((n: number) => {
      runs++;
      if (runs < 3) throw conflict();
      return n * 2;
    }, 21, { baseDelayMs: 1, onRetry: (info) => { retries.push(info.attempt); } });
    assert.equal(result, 42);
    assert.deepEqual(retries, [1, 2]);
  });

  it('does not retry other errors, and gives up after maxAttempts with the last conflict', async () => {
    let runs = 0;
    await assert.rejects(runWithConflictRetry(() => { runs++; throw new Error('boom'); }, null), /boom/);
    assert.equal(runs, 1);
    runs = 0;
    await assert.rejects(runWithConflictRetry(() => { runs++; throw conflict(); }, null, { maxAttempts: 3, baseDelayMs: 0 }), (e: unknown) => isConflictError(e));
    assert.equal(runs, 3);
  });

  it('stops before a retry would start past the deadline', async () => {
    let runs = 0;
    await assert.rejects(runWithConflictRetry(() => { runs++; throw conflict(); }, null, { deadlineMs: 0, baseDelayMs: 10, random: () => 0.5 }));
    assert.equal(runs, 1);
  });

  it('validates its options', async () => {
    await assert.rejects(runWithConflictRetry(() => 1, null, { maxAttempts: 0 }), /maxAttempts must be a whole number ≥ 1/);
    await assert.rejects(runWithConflictRetry(() => 1, null, { deadlineMs: Number.NaN }), /deadlineMs must be a finite number/);
  });
});

describe('fs error mapping', () => {
  it('maps connector answers to fs codes, keeping status, connector code and message', () => {
    const body = (error: string, message: string): Buffer => Buffer.from(JSON.stringify({ error, message }));
    const cases: Array<[number, string, string]> = [
      [400, 'bad_request', 'EINVAL'], [400, 'unsupported_attribute', 'ENODATA'], [403, 'permission_denied', 'EACCES'],
      [404, 'key_not_found', 'ENOENT'], [409, 'conflict', 'EEXIST'], [413, 'too_large', 'EFBIG'],
      [500, 'internal_error', 'EIO'], [503, 'unavailable', 'EIO'], [504, 'timeout', 'ETIMEDOUT'],
    ];
    for (const [status, code, expected] of cases) {
      const error = errorFromAnswer(status, body(code, 'why'), 'open', '/state/k');
      assert.equal(error.code, expected, `${status} ${code}`);
      assert.equal(error.status, status);
      assert.equal(error.connectorCode, code);
      assert.match(error.message, /\(why\)$/);
    }
    assert.equal(errorFromAnswer(409, Buffer.alloc(0), 'open', '/k', 'exists').reason, 'exists');
    assert.equal(errorFromAnswer(502, Buffer.from('<html>'), 'open', '/k').code, 'EIO');
  });
});

describe('ContentBuffer', () => {
  it('keeps small content in memory and spills past the threshold to an unlinked file, with positional reads and writes either way', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'asya-content-'));
    const buffer = new ContentBuffer(8, dir);
    await buffer.append(Buffer.from('abcd'));
    assert.equal(buffer.spilled, false);
    await buffer.write(Buffer.from('XY'), 1);
    await buffer.append(Buffer.from('efghij'));
    assert.equal(buffer.spilled, true);
    assert.deepEqual(await readdir(dir), [], 'the spill file is unlinked while open');
    assert.equal((await buffer.toBuffer()).toString(), 'aXYdefghij');
    const part = Buffer.alloc(3);
    assert.equal(await buffer.read(part, 0, 3, 8), 2);
    assert.equal(part.subarray(0, 2).toString(), 'ij');
    await buffer.truncate(3);
    const streamed: Buffer[] = [];
    for await (const chunk of buffer.stream()) streamed.push(chunk as Buffer);
    assert.equal(Buffer.concat(streamed).toString(), 'aXY');
    await buffer.dispose();
  });
});
