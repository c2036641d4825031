/**
 * The data path: a 64 MiB object through the spill file and the resumable upload, and
 * bodies cut short, which must leave no object and no temporary file.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startConnector, type Connector } from '../helpers/connector.ts';
import { getDirect, startEmulator, type Emulator } from '../helpers/emulator.ts';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { recordFigures } from '../helpers/figures.ts';
import { metricValue, rawExchange, request } from '../helpers/socket-http.ts';

const MIB = 1024 * 1024;

/** Deterministic pseudo-random bytes, generated a chunk at a time. */
function* patternedChunks(total: number, chunkSize = MIB): Generator<Buffer> {
  let state = 0x9e3779b9;
  for (let sent = 0; sent < total; sent += chunkSize) {
    const chunk = Buffer.allocUnsafe(Math.min(chunkSize, total - sent));
    for (let i = 0; i < chunk.length; i += 4) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      chunk.writeUInt32LE(state, i);
    }
    yield chunk;
  }
}

function md5Of(chunks: Iterable<Buffer>): string {
  const hash = createHash('md5');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}

let emulator: Emulator;
let proxy: FaultProxy;
let connector: Connector;
const bucket = 'large-objects';
const spoolRoot = mkdtempSync(join(tmpdir(), 'asya-spool-test-'));

before(async () => {
  emulator = await startEmulator();
  await emulator.createBucket(bucket);
  proxy = await startFaultProxy(emulator.origin);
  connector = await startConnector({
    emulatorOrigin: proxy.origin,
    bucket,
    variant: 'cas',
    env: { CONNECTOR_TMPDIR: spoolRoot },
  });
});
after(async () => {
  await connector.stop();
  await proxy.close();
  await emulator.stop();
});

/** Files in the connector's spool directory (under its CONNECTOR_TMPDIR). */
function spoolFiles(): string[] {
  return readdirSync(spoolRoot, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).map((entry) => entry.name);
}

describe('large objects', () => {
  it('a 64 MiB object round-trips through the spill file and a resumable upload, memory bounded', async () => {
    const size = 64 * MIB;
    const expected = md5Of(patternedChunks(size));
    const spilledBefore = await metricValue(connector.socketPath, 'asya_state_uploads_spilled_total');
    const rssBefore = connector.peakRssMiB();

    const put = await request(connector.socketPath, '/keys/big/model.bin', { method: 'PUT', body: patternedChunks(size) as unknown as AsyncIterable<Buffer>, headers: { 'content-length': String(size) } });
    assert.equal(put.status, 204, put.text());
    assert.equal(await metricValue(connector.socketPath, 'asya_state_uploads_spilled_total'), spilledBefore + 1);
    assert.ok(proxy.seen.some((line) => line.includes('uploadType=resumable')), 'a body over GCS_RESUMABLE_THRESHOLD uses a resumable upload');

    const stored = await getDirect(emulator, bucket, 'big/model.bin');
    assert.ok(stored !== undefined);
    assert.equal(stored.length, size);
    assert.equal(md5Of([stored]), expected);

    // Stream the download through without holding it.
    const hash = createHash('md5');
    let received = 0;
    await new Promise<void>((resolve, reject) => {
      httpRequest({ socketPath: connector.socketPath, path: '/keys/big/model.bin', agent: false }, (res) => {
        assert.equal(res.headers['content-length'], String(size));
        res.on('data', (chunk: Buffer) => { hash.update(chunk); received += chunk.length; });
        res.on('end', resolve);
        res.on('error', reject);
      }).on('error', reject).end();
    });
    assert.equal(received, size);
    assert.equal(hash.digest('hex'), expected);
    const peak = connector.peakRssMiB();
    recordFigures('64 MiB round trip', { bytes: size, peak_rss_mib: peak, peak_rss_before_mib: rssBefore });
    assert.deepEqual(spoolFiles(), [], 'the spill file is removed after the upload');
  });

  it('a body between the spill threshold and the resumable threshold goes in one multipart request', async () => {
    const size = 6 * MIB;
    const seenBefore = proxy.seen.length;
    const put = await request(connector.socketPath, '/keys/big/medium.bin', { method: 'PUT', body: Buffer.concat([...patternedChunks(size)]) });
    assert.equal(put.status, 204);
    const uploads = proxy.seen.slice(seenBefore).filter((line) => line.startsWith('POST /upload/'));
    assert.equal(uploads.length, 1);
    assert.match(uploads[0] ?? '', /uploadType=multipart/);
    assert.equal((await getDirect(emulator, bucket, 'big/medium.bin'))?.length, size);
  });
});

describe('bodies cut short', () => {
  it('a client gone before Content-Length is reached: no object, no temporary file, connector serving', async () => {
    await new Promise<void>((resolve) => {
      const socket = connect(connector.socketPath, () => {
        socket.write(`PUT /keys/cut/content-length HTTP/1.1\r\nHost: x\r\nContent-Length: ${10 * MIB}\r\n\r\n`);
        for (const chunk of patternedChunks(6 * MIB)) socket.write(chunk);
        socket.end(resolve);
      });
    });
    await waitForNoSpoolFiles();
    assert.equal(await getDirect(emulator, bucket, 'cut/content-length'), undefined);
    assert.equal((await request(connector.socketPath, '/healthz')).status, 200);
  });

  it('a socket closed mid-chunked-body: no object, no temporary file', async () => {
    await new Promise<void>((resolve) => {
      const socket = connect(connector.socketPath, () => {
        socket.write('PUT /keys/cut/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
        for (const chunk of patternedChunks(6 * MIB)) socket.write(`${chunk.length.toString(16)}\r\n${chunk.toString('latin1')}\r\n`, 'latin1');
        socket.destroy();
        resolve();
      });
    });
    await waitForNoSpoolFiles();
    assert.equal(await getDirect(emulator, bucket, 'cut/chunked'), undefined);
  });

  it('Expect: 100-continue: an upload over the limit is refused before its body is sent; an accepted one gets 100 first', async () => {
    const socket = connect(connector.socketPath);
    let received = '';
    socket.on('data', (chunk: Buffer) => { received += chunk.toString('latin1'); });
    const until = async (pattern: RegExp): Promise<void> => {
      for (let waited = 0; !pattern.test(received); waited += 10) {
        if (waited > 5000) assert.fail(`no ${String(pattern)} in ${JSON.stringify(received)}`);
        await sleep(10);
      }
    };
    socket.write('PUT /keys/continue/ok HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
    await until(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
    socket.write('hello');
    await until(/HTTP\/1\.1 204 /);
    socket.destroy();
    assert.equal((await getDirect(emulator, bucket, 'continue/ok'))?.toString(), 'hello');

    const refused = await rawExchange(connector.socketPath,
      `PUT /keys/continue/huge HTTP/1.1\r\nHost: x\r\nContent-Length: ${6 * 1024 * MIB}\r\nExpect: 100-continue\r\n\r\n`);
    assert.doesNotMatch(refused, /100 Continue/);
    assert.match(refused, /^HTTP\/1\.1 413 /);
    assert.match(refused, /"error":"too_large"/);
    assert.equal(await getDirect(emulator, bucket, 'continue/huge'), undefined);
  });

  it('a refused PUT whose whole body was sent before reading (as Python does) still gets its answer, not a broken pipe', async () => {
    // The key is invalid, so the connector answers 400 before reading the body; a client
    // still writing it must not have its connection closed under it.
    const body = Buffer.alloc(256 * 1024, 97);
    for (let round = 0; round < 20; round++) {
      const chunked = round % 2 === 0;
      const head = chunked
        ? 'PUT /keys/bad//key HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n'
        : `PUT /keys/bad//key HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n`;
      const payload = chunked ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]) : body;
      const raw = await rawExchange(connector.socketPath, Buffer.concat([Buffer.from(head), payload]), { waitMs: 5_000 });
      assert.match(raw, /^HTTP\/1\.1 400 /, `round ${round} (${chunked ? 'chunked' : 'Content-Length'}): ${JSON.stringify(raw.slice(0, 80))}`);
      assert.match(raw, /"error":"bad_request"/);
    }
  });

  it('broken chunking is answered 400 with JSON, and nothing is stored', async () => {
    const answer = await rawExchange(connector.socketPath,
      'PUT /keys/cut/garbage HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZZ-not-hex\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /"error":"bad_request"/);
    await waitForNoSpoolFiles();
    assert.equal(await getDirect(emulator, bucket, 'cut/garbage'), undefined);
  });

  it('a Content-Length body that ends early with the request still open is never uploaded', async () => {
    // The client half-closes after fewer bytes than announced.
    const answer = await rawExchange(connector.socketPath,
      'PUT /keys/cut/half HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-twenty-bytes...', { endAfterWrite: true });
    assert.ok(!answer.includes(' 204 '), 'never acknowledged as stored');
    assert.equal(await getDirect(emulator, bucket, 'cut/half'), undefined);
  });
});

/** The spool removes its file when the request fails; give the event loop a moment to get there. */
async function waitForNoSpoolFiles(): Promise<void> {
  for (let i = 0; i < 100 && spoolFiles().length > 0; i++) await sleep(20);
  assert.deepEqual(spoolFiles(), [], 'no temporary file is left');
}
