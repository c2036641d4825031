/**
 * The TypeScript client (src/client) against the real connector and fake-gcs-server:
 * every function of the fs-like API, the fs error codes, open flags, streams past the
 * spill threshold, keys that need encoding, and compare-and-set through If-Match.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdtemp, readdir as localReaddir } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { isConflictError, StateClient, StateFsError } from '../../src/client/index.ts';
import { startConnector, type Connector } from '../helpers/connector.ts';
import { generationDirect, getDirect, objectNames, putDirect, startEmulator, type Emulator } from '../helpers/emulator.ts';
import { metricValue, request } from '../helpers/socket-http.ts';

const MOUNT = '/state/cache';
let emulator: Emulator;
before(async () => { emulator = await startEmulator(); });
after(async () => { await emulator.stop(); });

/** Asserts that `promise` rejects with a StateFsError carrying `code` (and the fields Node's fs errors carry). */
async function rejectsWith(promise: Promise<unknown>, code: string, check: (error: StateFsError) => void = () => undefined): Promise<StateFsError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof StateFsError, `expected a StateFsError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.equal(typeof error.errno, 'number');
    assert.ok(error.errno < 0);
    assert.equal(typeof error.syscall, 'string');
    assert.equal(typeof error.path, 'string');
    check(error);
    return error;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

const md5 = (bytes: Buffer): string => createHash('md5').update(bytes).digest('hex');

describe('client: files, errors and flags (cas connector)', () => {
  const bucket = 'client-api';
  let connector: Connector;
  let client: StateClient;
  const name = (key: string): string => `app/${key}`;

  before(async () => {
    await emulator.createBucket(bucket);
    connector = await startConnector({ emulatorOrigin: emulator.origin, bucket, variant: 'cas', env: { STATE_PREFIX: 'app', CONNECTOR_MAX_BODY: '8Mi' } });
    client = new StateClient({ socketPath: connector.socketPath, mountPath: MOUNT });
  });
  after(async () => {
    client.close();
    await connector.stop();
  });

  it('writeFile then readFile round-trips strings and bytes; mount paths and relative keys name the same object', async () => {
    await client.writeFile(`${MOUNT}/rt/text.txt`, 'héllo', 'utf8');
    assert.equal(await client.readFile('rt/text.txt', 'utf8'), 'héllo');
    const bytes = Buffer.from([0, 1, 2, 255]);
    await client.writeFile('rt/bytes.bin', bytes);
    assert.deepEqual(await client.readFile(`${MOUNT}/rt/bytes.bin`), bytes);
    assert.deepEqual(await getDirect(emulator, bucket, name('rt/bytes.bin')), bytes);
  });

  it('writeFile accepts iterables and streams, and stores the content type asked for', async () => {
    await client.writeFile('rt/iter.txt', ['a', Buffer.from('b'), 'c']);
    await client.writeFile('rt/stream.json', Readable.from([Buffer.from('{"x":'), Buffer.from('1}')]), { contentType: 'application/json' });
    assert.equal(await client.readFile('rt/iter.txt', 'utf8'), 'abc');
    assert.equal(await client.getxattr('rt/stream.json', 'content_type'), 'application/json');
  });

  it('readFile of a missing file is ENOENT with errno, syscall and path like node:fs', async () => {
    await rejectsWith(client.readFile(`${MOUNT}/missing.txt`), 'ENOENT', (error) => {
      assert.equal(error.errno, -osConstants.errno.ENOENT);
      assert.equal(error.syscall, 'open');
      assert.equal(error.path, `${MOUNT}/missing.txt`);
      assert.match(error.message, /^ENOENT: no such file or directory, open '\/state\/cache\/missing.txt'/);
    });
  });

  it('readFile of a directory or the mount root is EISDIR', async () => {
    await client.writeFile('dir1/inner.txt', 'x');
    await rejectsWith(client.readFile('dir1'), 'EISDIR');
    await rejectsWith(client.readFile(MOUNT), 'EISDIR');
  });

  it('a path outside the mount is EINVAL and sends nothing', async () => {
    const before = await metricValue(connector.socketPath, 'asya_state_requests_total');
    await rejectsWith(client.readFile('/etc/passwd'), 'EINVAL');
    await rejectsWith(client.readFile(`${MOUNT}/../other/x`), 'EINVAL');
    assert.equal(await metricValue(connector.socketPath, 'asya_state_requests_total'), before + 1, 'only the metrics scrape itself was counted');
  });

  it('exclusive create (flag wx) on an existing file is EEXIST with reason "exists", not a conflict', async () => {
    await client.writeFile('excl/a', '1', { flag: 'wx' });
    const error = await rejectsWith(client.writeFile('excl/a', '2', { flag: 'wx' }), 'EEXIST', (e) => { assert.equal(e.reason, 'exists'); });
    assert.equal(isConflictError(error), false);
    assert.equal(await client.readFile('excl/a', 'utf8'), '1');
  });

  it('a write after an external change since our read is EEXIST with reason "generation_mismatch", and the other write survives', async () => {
    await client.writeFile('cas/k', 'v1');
    assert.equal(await client.readFile('cas/k', 'utf8'), 'v1');
    await putDirect(emulator, bucket, name('cas/k'), 'external');
    const error = await rejectsWith(client.writeFile('cas/k', 'mine'), 'EEXIST', (e) => { assert.equal(e.reason, 'generation_mismatch'); });
    assert.ok(isConflictError(error));
    assert.equal((await getDirect(emulator, bucket, name('cas/k')))?.toString(), 'external');
    // After a conflict the client forgets the generation: a fresh read, then the write goes through.
    assert.equal(await client.readFile('cas/k', 'utf8'), 'external');
    await client.writeFile('cas/k', 'external+mine');
    assert.equal((await getDirect(emulator, bucket, name('cas/k')))?.toString(), 'external+mine');
  });

  it('compare-and-set holds across a connector restart, because the client sends If-Match', async () => {
    await client.writeFile('restart/k', 'v1');
    assert.equal(await client.readFile('restart/k', 'utf8'), 'v1');
    await connector.stop();
    connector = await startConnector({ emulatorOrigin: emulator.origin, bucket, variant: 'cas', socketPath: connector.socketPath, env: { STATE_PREFIX: 'app', CONNECTOR_MAX_BODY: '8Mi' } });
    await putDirect(emulator, bucket, name('restart/k'), 'external');
    await rejectsWith(client.writeFile('restart/k', 'mine'), 'EEXIST', (e) => { assert.equal(e.reason, 'generation_mismatch'); });
    assert.equal((await getDirect(emulator, bucket, name('restart/k')))?.toString(), 'external');
  });

  it('a body over the connector\'s maximum is EFBIG and stores nothing', async () => {
    await rejectsWith(client.writeFile('big/too-large', Buffer.alloc(9 * 1024 * 1024)), 'EFBIG');
    assert.equal(await getDirect(emulator, bucket, name('big/too-large')), undefined);
  });

  it('appendFile creates a missing file, then appends by read-and-rewrite', async () => {
    await client.appendFile('log/a.txt', 'one\n');
    await client.appendFile('log/a.txt', 'two\n');
    assert.equal(await client.readFile('log/a.txt', 'utf8'), 'one\ntwo\n');
  });

  it('open("r"): reads with positions; writing is EBADF; a missing file is ENOENT', async () => {
    await client.writeFile('h/r.txt', '0123456789');
    const handle = await client.open('h/r.txt', 'r');
    const buffer = Buffer.alloc(4);
    assert.equal((await handle.read(buffer, 0, 4, 3)).bytesRead, 4);
    assert.equal(buffer.toString(), '3456');
    assert.equal((await handle.read(buffer, 0, 4, null)).bytesRead, 4);
    assert.equal(buffer.toString(), '0123', 'a null position reads from the current position, which positional reads leave alone');
    await rejectsWith(handle.write('x'), 'EBADF');
    assert.equal(await handle.readFile('utf8'), '0123456789');
    await handle.close();
    await rejectsWith(client.open('h/none.txt', 'r'), 'ENOENT');
  });

  it('closing a handle that changed nothing uploads nothing', async () => {
    await client.writeFile('h/untouched', 'same');
    const generation = await generationDirect(emulator, bucket, name('h/untouched'));
    const handle = await client.open('h/untouched', 'r+');
    await handle.read(Buffer.alloc(2), 0, 2, 0);
    await handle.close();
    assert.equal(await generationDirect(emulator, bucket, name('h/untouched')), generation);
  });

  it('open("r+"): overwrites in place and uploads the whole on close', async () => {
    await client.writeFile('h/rplus.txt', 'abcdef');
    const handle = await client.open('h/rplus.txt', 'r+');
    await handle.write('XY', 2);
    await handle.close();
    assert.equal((await getDirect(emulator, bucket, name('h/rplus.txt')))?.toString(), 'abXYef');
  });

  it('open("w") truncates and creates on close even when nothing is written; "w+" reads back what it wrote', async () => {
    await client.writeFile('h/w.txt', 'old content');
    const w = await client.open('h/w.txt', 'w');
    await w.write('new');
    await w.close();
    assert.equal((await getDirect(emulator, bucket, name('h/w.txt')))?.toString(), 'new');
    await (await client.open('h/empty.txt', 'w')).close();
    assert.deepEqual(await getDirect(emulator, bucket, name('h/empty.txt')), Buffer.alloc(0));
    const wplus = await client.open('h/wplus.txt', 'w+');
    await wplus.write('round trip');
    assert.equal(await wplus.readFile('utf8'), 'round trip');
    await wplus.close();
  });

  it('open("wx") on an existing file fails at open with EEXIST; on a new file it creates', async () => {
    await client.writeFile('h/x.txt', 'exists');
    await rejectsWith(client.open('h/x.txt', 'wx'), 'EEXIST', (e) => { assert.equal(e.reason, 'exists'); });
    const handle = await client.open('h/x-new.txt', 'wx');
    await handle.write('created');
    await handle.close();
    assert.equal((await getDirect(emulator, bucket, name('h/x-new.txt')))?.toString(), 'created');
  });

  it('open("wx") loses a race at close with EEXIST: the create is exclusive at the store, not just at open', async () => {
    const handle = await client.open('h/x-race.txt', 'wx');
    await putDirect(emulator, bucket, name('h/x-race.txt'), 'first');
    await handle.write('second');
    await rejectsWith(handle.close(), 'EEXIST', (e) => { assert.equal(e.reason, 'exists'); });
    assert.equal((await getDirect(emulator, bucket, name('h/x-race.txt')))?.toString(), 'first');
  });

  it('open("a"): writes go to the end whatever the position; a concurrent change makes close fail with a conflict, losing nothing', async () => {
    await client.writeFile('h/a.txt', 'start;');
    const handle = await client.open('h/a.txt', 'a');
    await handle.write('one;', 0);
    await handle.close();
    assert.equal((await getDirect(emulator, bucket, name('h/a.txt')))?.toString(), 'start;one;');

    const racing = await client.open('h/a.txt', 'a+');
    assert.equal(await racing.readFile('utf8'), 'start;one;');
    await putDirect(emulator, bucket, name('h/a.txt'), 'start;one;other;');
    await racing.write('two;');
    await rejectsWith(racing.close(), 'EEXIST', (e) => { assert.equal(e.reason, 'generation_mismatch'); });
    assert.equal((await getDirect(emulator, bucket, name('h/a.txt')))?.toString(), 'start;one;other;');
  });

  it('open accepts fs.constants flags and refuses unknown flags with EINVAL', async () => {
    const handle = await client.open('h/numeric.txt', constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC);
    await handle.write('numeric');
    await handle.close();
    assert.equal(await client.readFile('h/numeric.txt', 'utf8'), 'numeric');
    await rejectsWith(client.open('h/numeric.txt', 'rw'), 'EINVAL');
  });

  it('handle.sync() uploads now; a later close uploads again only if written since', async () => {
    const handle = await client.open('h/sync.txt', 'w');
    await handle.write('first');
    await handle.sync();
    assert.equal((await getDirect(emulator, bucket, name('h/sync.txt')))?.toString(), 'first');
    await handle.write(' second');
    await handle.close();
    assert.equal((await getDirect(emulator, bucket, name('h/sync.txt')))?.toString(), 'first second');
    await rejectsWith(handle.read(Buffer.alloc(1)), 'EBADF');
  });

  it('readdir lists names, file types, the root, recursive listings; an empty directory is []; a file is ENOTDIR', async () => {
    await client.writeFile('tree/a.txt', 'a');
    await client.writeFile('tree/sub/b.txt', 'b');
    await client.writeFile('tree/sub/deeper/c.txt', 'c');
    assert.deepEqual(await client.readdir('tree'), ['a.txt', 'sub']);
    const dirents = await client.readdir(`${MOUNT}/tree`, { withFileTypes: true });
    assert.deepEqual(dirents.map((d) => [d.name, d.isFile(), d.isDirectory(), d.parentPath]), [
      ['a.txt', true, false, `${MOUNT}/tree`],
      ['sub', false, true, `${MOUNT}/tree`],
    ]);
    assert.deepEqual(await client.readdir('tree', { recursive: true }), ['a.txt', 'sub', 'sub/b.txt', 'sub/deeper', 'sub/deeper/c.txt']);
    assert.ok((await client.readdir(MOUNT)).includes('tree'));
    await client.mkdir('tree/made', { recursive: true });
    assert.deepEqual(await client.readdir('tree/made'), []);
    await rejectsWith(client.readdir('tree/a.txt'), 'ENOTDIR');
  });

  it('readdir and rm -r page through a directory larger than one page (1,000 names) instead of asking for it whole', async () => {
    const names = Array.from({ length: 1_234 }, (_, i) => `f${String(i).padStart(4, '0')}`);
    // Planted directly: 1,234 writes through the client would take longer than they prove.
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < names.length) await putDirect(emulator, bucket, name(`big-dir/${names[next++] ?? ''}`), 'x');
    }));
    const listsBefore = await metricValue(connector.socketPath, 'asya_state_requests_total', { op: 'list', status: '200' });
    assert.deepEqual(await client.readdir('big-dir'), names);
    assert.equal(await metricValue(connector.socketPath, 'asya_state_requests_total', { op: 'list', status: '200' }) - listsBefore, 2, 'two pages of at most 1,000');
    await client.rm('big-dir', { recursive: true });
    assert.deepEqual((await objectNames(emulator, bucket)).filter((object) => object.startsWith(name('big-dir/'))), [], 'rm -r removed every page');
  });

  it('stat: files carry size, mtime and generation; prefixes and the root are directories; missing is ENOENT', async () => {
    await client.writeFile('st/file.txt', '12345');
    const file = await client.stat(`${MOUNT}/st/file.txt`);
    assert.ok(file.isFile());
    assert.equal(file.isDirectory(), false);
    assert.equal(file.size, 5);
    assert.ok(Math.abs(file.mtimeMs - Date.now()) < 120_000, `mtime ${file.mtime.toISOString()} is recent`);
    assert.equal(file.generation, await generationDirect(emulator, bucket, name('st/file.txt')));
    assert.ok((await client.stat('st')).isDirectory());
    assert.ok((await client.stat(MOUNT)).isDirectory());
    assert.ok((await client.lstat('st/file.txt')).isFile());
    await rejectsWith(client.stat('st/nothing'), 'ENOENT', (e) => { assert.equal(e.syscall, 'stat'); });
  });

  it('access and exists', async () => {
    await client.writeFile('acc/f', '1');
    await client.access('acc/f');
    await client.access('acc');
    await rejectsWith(client.access('acc/none'), 'ENOENT');
    assert.equal(await client.exists('acc/f'), true);
    assert.equal(await client.exists('acc/none'), false);
  });

  it('unlink removes a file; missing is ENOENT; a directory is EISDIR', async () => {
    await client.writeFile('del/f', '1');
    await client.writeFile('del/dir/g', '1');
    await client.unlink('del/f');
    assert.equal(await getDirect(emulator, bucket, name('del/f')), undefined);
    await rejectsWith(client.unlink('del/f'), 'ENOENT');
    await rejectsWith(client.unlink('del/dir'), 'EISDIR');
  });

  it('rm: files; force ignores missing; a directory needs recursive, which removes everything under it', async () => {
    await client.writeFile('rmt/f', '1');
    await client.writeFile('rmt/d/x', '1');
    await client.writeFile('rmt/d/y/z', '1');
    await client.rm('rmt/f');
    await rejectsWith(client.rm('rmt/f'), 'ENOENT');
    await client.rm('rmt/f', { force: true });
    await rejectsWith(client.rm('rmt/d'), 'EISDIR');
    await client.rm('rmt/d', { recursive: true });
    assert.deepEqual((await objectNames(emulator, bucket)).filter((n) => n.startsWith(name('rmt/'))), []);
  });

  it('rmdir: an empty (implicit) directory succeeds; a non-empty one is ENOTEMPTY', async () => {
    await client.writeFile('rd/full/f', '1');
    await client.rmdir('rd/empty');
    await rejectsWith(client.rmdir('rd/full'), 'ENOTEMPTY');
  });

  it('mkdir succeeds and stores nothing', async () => {
    const before = (await objectNames(emulator, bucket)).length;
    await client.mkdir('made/deep/dirs', { recursive: true });
    assert.equal((await objectNames(emulator, bucket)).length, before);
  });

  it('xattrs: get (with or without the user.asya. prefix), list, set content_type; unknown is ENODATA; read-only is EACCES', async () => {
    await client.writeFile('x/f', '1');
    assert.equal(await client.getxattr('x/f', 'url'), `gs://${bucket}/${name('x/f')}`);
    assert.equal(await client.getxattr('x/f', 'user.asya.generation'), await generationDirect(emulator, bucket, name('x/f')));
    assert.ok((await client.listxattr('x/f')).includes('content_type'));
    await client.setxattr('x/f', 'content_type', 'text/plain');
    assert.equal(await client.getxattr('x/f', 'content_type'), 'text/plain');
    await rejectsWith(client.getxattr('x/f', 'colour'), 'ENODATA');
    await rejectsWith(client.setxattr('x/f', 'generation', '5'), 'EACCES');
    await rejectsWith(client.getxattr('x/none', 'url'), 'ENOENT');
  });

  it('keys with spaces, unicode and % are stored under exactly those names', async () => {
    const keys = ['enc/with space.txt', 'enc/ünïcødé/日本.txt', 'enc/100%/a%20b', 'enc/q?x#y'];
    for (const key of keys) await client.writeFile(key, key);
    for (const key of keys) assert.equal(await client.readFile(key, 'utf8'), key);
    assert.deepEqual((await objectNames(emulator, bucket)).filter((n) => n.startsWith(name('enc/'))), keys.map(name).sort());
    assert.deepEqual(await client.readdir('enc'), ['100%', 'q?x#y', 'with space.txt', 'ünïcødé']);
  });

  it('a write stream larger than the spill threshold is stored intact and leaves no temporary file', async () => {
    const tmpDir = await mkdtemp(join(tmpdir(), 'asya-client-spill-'));
    const spilling = new StateClient({ socketPath: connector.socketPath, mountPath: MOUNT, tmpDir });
    try {
      const chunk = Buffer.alloc(256 * 1024);
      const total = 6 * 1024 * 1024;
      const hash = createHash('md5');
      async function* source(): AsyncGenerator<Buffer> {
        for (let sent = 0; sent < total; sent += chunk.length) {
          chunk.fill(sent / chunk.length);
          hash.update(chunk);
          yield chunk;
        }
      }
      const stream = spilling.createWriteStream(`${MOUNT}/streams/big.bin`);
      await pipeline(source(), stream);
      assert.equal(stream.bytesWritten, total);
      const stored = await getDirect(emulator, bucket, name('streams/big.bin'));
      assert.equal(stored?.length, total);
      assert.equal(md5(stored), hash.digest('hex'));
      assert.deepEqual(await localReaddir(tmpDir), []);

      const read = spilling.createReadStream('streams/big.bin');
      const readHash = createHash('md5');
      for await (const part of read) readHash.update(part as Buffer);
      assert.equal(readHash.digest('hex'), md5(stored));
    } finally {
      spilling.close();
    }
  });

  it('createReadStream honours start and end; a missing file emits ENOENT', async () => {
    await client.writeFile('streams/range.txt', '0123456789');
    const parts: Buffer[] = [];
    for await (const part of client.createReadStream('streams/range.txt', { start: 2, end: 5 })) parts.push(part as Buffer);
    assert.equal(Buffer.concat(parts).toString(), '2345');
    await rejectsWith(new Promise((resolve, reject) => {
      const stream = client.createReadStream('streams/none');
      stream.on('error', reject).on('end', resolve).resume();
    }), 'ENOENT');
  });

  it('a write stream destroyed before it ends stores nothing', async () => {
    const stream = client.createWriteStream('streams/abandoned.txt');
    stream.write('partial');
    await new Promise((resolve) => { stream.on('close', resolve); stream.destroy(); });
    assert.equal(await getDirect(emulator, bucket, name('streams/abandoned.txt')), undefined);
  });

  it('a passthrough write stream sends the body as it is written (chunked) and stores it', async () => {
    const passthrough = new StateClient({ socketPath: connector.socketPath, mountPath: MOUNT, writeMode: 'passthrough' });
    try {
      await pipeline(Readable.from([Buffer.from('streamed '), Buffer.from('as written')]), passthrough.createWriteStream('streams/passthrough.txt'));
      assert.equal((await getDirect(emulator, bucket, name('streams/passthrough.txt')))?.toString(), 'streamed as written');
    } finally {
      passthrough.close();
    }
  });

  it('options are checked at construction with a message saying what to fix', () => {
    assert.throws(() => new StateClient({ socketPath: 'relative.sock' }), /socketPath must be the connector socket's absolute path/);
    assert.throws(() => new StateClient({ socketPath: '/x.sock', timeoutMs: 0 }), /timeoutMs must be a whole number/);
    assert.throws(() => new StateClient({ socketPath: '/x.sock', writeMode: 'streaming' as 'buffered' }), /writeMode must be "buffered" or "passthrough"/);
  });
});

describe('client: compare-and-set switched off, LWW connector', () => {
  it('without If-Match, the last write wins on the LWW variant', async () => {
    const bucket = 'client-lww';
    await emulator.createBucket(bucket);
    const connector = await startConnector({ emulatorOrigin: emulator.origin, bucket, variant: 'lww' });
    const plain = new StateClient({ socketPath: connector.socketPath, compareAndSet: false });
    const careful = new StateClient({ socketPath: connector.socketPath });
    try {
      await plain.writeFile('k', 'v1');
      assert.equal(await plain.readFile('k', 'utf8'), 'v1');
      assert.equal(await careful.readFile('k', 'utf8'), 'v1');
      await putDirect(emulator, bucket, 'k', 'external');
      await plain.writeFile('k', 'mine');
      assert.equal((await getDirect(emulator, bucket, 'k'))?.toString(), 'mine');
      // The same client with If-Match on (the default) keeps compare-and-set even on LWW.
      await rejectsWith(careful.writeFile('k', 'careful'), 'EEXIST', (e) => { assert.equal(e.reason, 'generation_mismatch'); });
    } finally {
      plain.close();
      careful.close();
      await connector.stop();
    }
  });
});

describe('client: transport failures', () => {
  it('no connector on the socket is ECONNREFUSED, naming the socket', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'asya-client-nosock-'));
    const client = new StateClient({ socketPath: join(dir, 'none.sock') });
    await rejectsWith(client.readFile('k'), 'ECONNREFUSED', (e) => { assert.match(e.message, /no connector is listening on/); });
    client.close();
  });

  it('a connector that accepts but never answers is ETIMEDOUT after timeoutMs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'asya-client-stall-'));
    const socketPath = join(dir, 'stall.sock');
    const held: Socket[] = [];
    const server: Server = createServer((socket) => { held.push(socket); });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    const client = new StateClient({ socketPath, timeoutMs: 300 });
    try {
      const started = Date.now();
      await rejectsWith(client.readFile('k'), 'ETIMEDOUT');
      assert.ok(Date.now() - started >= 250, 'not before the deadline');
    } finally {
      client.close();
      for (const socket of held) socket.destroy();
      server.close();
    }
  });

  it('a connector answering 503 is EIO carrying the status and the connector\'s message', async () => {
    const bucket = 'client-unavailable';
    await emulator.createBucket(bucket);
    const connector = await startConnector({ emulatorOrigin: emulator.origin, bucket, variant: 'lww', settings: { gcsMaxAttempts: 1, gcsTimeoutMs: 2000 } });
    const client = new StateClient({ socketPath: connector.socketPath });
    try {
      await emulator.stop();
      await rejectsWith(client.readFile('k'), 'EIO', (e) => {
        assert.equal(e.status, 503);
        assert.equal(e.connectorCode, 'unavailable');
      });
      assert.equal((await request(connector.socketPath, '/healthz')).status, 200, 'the connector keeps serving');
    } finally {
      client.close();
      await connector.stop();
      emulator = await startEmulator();
    }
  });
});
