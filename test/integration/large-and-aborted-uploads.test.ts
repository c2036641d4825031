/**
 * The upload data path: a body larger than one chunk streams into a GCS resumable upload
 * while it arrives (no local disk), byte-exact through both variants; a body cut short,
 * a body over the limit and a CAS upload overtaken by another writer leave nothing of
 * theirs; a chunk that fails in flight resumes from what GCS holds.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { withConnector } from '../helpers/connector.ts';
import { startVariantConnectors, type VariantConnectors } from '../helpers/variant-connectors.ts';
import { getDirect, putDirect, startEmulator, type Emulator } from '../helpers/emulator.ts';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { recordFigures } from '../helpers/figures.ts';
import { md5Of, patternedChunks, streamedGet, waitFor } from '../helpers/large-bodies.ts';
import { metricValue, openRawPut, rawExchange, request } from '../helpers/socket-http.ts';

const MIB = 1024 * 1024;
const CHUNK = 8 * MIB;
/**
 * A budget that fits two 8 MiB chunks whatever the test process's own footprint (the
 * default, sized from it, may lower the chunk), and a GCS timeout the emulator keeps: it
 * re-hashes the whole upload on every chunk, so late chunks of 256 MiB are slow.
 */
const FIXED_CHUNK = { CONNECTOR_MEMORY_BUDGET: '48Mi' };

let emulator: Emulator;
let proxy: FaultProxy;
let variants: VariantConnectors;
const bucket = 'large-objects';
/** The connectors' TMPDIR: streaming uploads must leave it empty. */
const tmpRoot = mkdtempSync(join(tmpdir(), 'asya-upload-tmp-'));

before(async () => {
  emulator = await startEmulator();
  await emulator.createBucket(bucket);
  proxy = await startFaultProxy(emulator.origin);
  variants = await startVariantConnectors({ emulatorOrigin: proxy.origin, bucket, env: { TMPDIR: tmpRoot, CONNECTOR_MAX_BODY: '300Mi', ...FIXED_CHUNK } });
  console.log('# fake-gcs-server v1.56 finalizes an upload on any status query and checks no x-goog-hash: the fault proxy answers status queries as GCS does, and the MD5 sent at finalization is checked here, not by the emulator');
});
after(async () => {
  await variants.stop();
  await proxy.close();
  await emulator.stop();
});

/** The chunk PUTs of the session that `name` was uploaded through, in order. */
function chunkPuts(since: number): { range: string; hash: string | undefined }[] {
  return proxy.seenRequests.slice(since)
    .filter((seen) => seen.method === 'PUT' && seen.url.includes('upload_id='))
    .map((seen) => ({ range: String(seen.headers['content-range']), hash: seen.headers['x-goog-hash'] as string | undefined }));
}

describe('large objects stream through a resumable upload, without local disk', () => {
  for (const variant of ['lww', 'cas'] as const) {
    it(`${variant}: a 256 MiB PUT goes up in 8 MiB chunks with the MD5 on the last, and GET returns it byte-exact`, async () => {
      const size = 256 * MIB;
      const c = variants.of(variant);
      const key = `big/${variant}-model.bin`;
      const since = proxy.seenRequests.length;
      const streamedBefore = await metricValue(c.socketPath, 'asya_state_uploads_streamed_total');
      const started = Date.now();
      const put = await request(c.socketPath, `/keys/${key}`, { method: 'PUT', body: patternedChunks(size) as unknown as AsyncIterable<Buffer>, headers: { 'content-length': String(size) } });
      const putSeconds = (Date.now() - started) / 1000;
      assert.equal(put.status, 204, put.text());
      assert.equal(await metricValue(c.socketPath, 'asya_state_uploads_streamed_total'), streamedBefore + 1);

      const puts = chunkPuts(since);
      assert.equal(puts.length, size / CHUNK, 'one PUT per 8 MiB chunk');
      assert.deepEqual(puts.map((p) => p.range), Array.from({ length: size / CHUNK }, (_, i) => `bytes ${i * CHUNK}-${(i + 1) * CHUNK - 1}/${size}`));
      assert.deepEqual(puts.slice(0, -1).map((p) => p.hash), puts.slice(0, -1).map(() => undefined), 'no hash before the last chunk');
      assert.equal(puts.at(-1)?.hash, `md5=${md5Of(patternedChunks(size), 'base64')}`, 'the last chunk carries the MD5 of the whole body');

      const stored = await getDirect(emulator, bucket, key);
      assert.ok(stored !== undefined);
      assert.equal(stored.length, size);
      const expected = md5Of(patternedChunks(size));
      assert.equal(md5Of([stored]), expected);
      const got = await streamedGet(c.socketPath, key);
      assert.deepEqual(got, { status: 200, length: String(size), bytes: size, md5: expected });
      assert.deepEqual(readdirSync(tmpRoot), [], 'nothing was written to local disk');
      recordFigures(`256 MiB streamed PUT and GET (${variant})`, { bytes: size, put_seconds: putSeconds, peak_rss_mib: c.peakRssMiB(), local_disk_bytes: 0 });
    });
  }

  it('a chunked (unannounced) body streams too: every chunk open-ended, the last with the total', async () => {
    const size = 20 * MIB + 123;
    const since = proxy.seenRequests.length;
    const put = await request(variants.of('lww').socketPath, '/keys/big/chunked.bin', { method: 'PUT', body: patternedChunks(size, 300_000) as unknown as AsyncIterable<Buffer> });
    assert.equal(put.status, 204, put.text());
    assert.deepEqual(chunkPuts(since).map((p) => p.range), [`bytes 0-${CHUNK - 1}/*`, `bytes ${CHUNK}-${2 * CHUNK - 1}/*`, `bytes ${2 * CHUNK}-${size - 1}/${size}`]);
    assert.equal(md5Of([(await getDirect(emulator, bucket, 'big/chunked.bin')) ?? Buffer.alloc(0)]), md5Of(patternedChunks(size, 300_000)));
  });

  it('a body of one chunk or less goes in one multipart request', async () => {
    const size = CHUNK;
    const since = proxy.seen.length;
    const put = await request(variants.of('lww').socketPath, '/keys/big/one-chunk.bin', { method: 'PUT', body: Buffer.concat([...patternedChunks(size)]) });
    assert.equal(put.status, 204);
    const uploads = proxy.seen.slice(since).filter((line) => line.includes('/upload/'));
    assert.equal(uploads.length, 1);
    assert.match(uploads[0] ?? '', /^POST .*uploadType=multipart/);
    assert.equal((await getDirect(emulator, bucket, 'big/one-chunk.bin'))?.length, size);
  });
});

describe('streamed uploads that fail leave nothing', () => {
  it('a client that stops at half: the session is cancelled, no object, the connector serving', async () => {
    const since = proxy.seenRequests.length;
    const socket = connect(variants.of('lww').socketPath);
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(`PUT /keys/cut/half.bin HTTP/1.1\r\nHost: x\r\nContent-Length: ${64 * MIB}\r\n\r\n`);
    for (const piece of patternedChunks(32 * MIB)) {
      if (!socket.write(piece)) await new Promise((resolve) => socket.once('drain', resolve));
    }
    await waitFor(() => chunkPuts(since).length >= 2, 'the first chunks to reach GCS');
    socket.destroy();
    await waitFor(() => proxy.seenRequests.slice(since).some((seen) => seen.method === 'DELETE' && seen.url.includes('upload_id=')), 'the session to be cancelled');
    assert.equal(await getDirect(emulator, bucket, 'cut/half.bin'), undefined);
    assert.equal((await request(variants.of('lww').socketPath, '/healthz')).status, 200);
  });

  it('a streamed body over CONNECTOR_MAX_BODY: 413, the session cancelled, nothing stored', async () => {
    await withConnector(proxy, { bucket, variant: 'lww', env: { CONNECTOR_MAX_BODY: '12Mi', ...FIXED_CHUNK } }, async (small) => {
      const since = proxy.seenRequests.length;
      const put = await request(small.socketPath, '/keys/cut/too-big.bin', { method: 'PUT', body: patternedChunks(20 * MIB) as unknown as AsyncIterable<Buffer> })
        .catch((error: unknown) => ({ status: 0, text: () => String(error) }));
      assert.equal(put.status, 413, put.text());
      assert.match(put.text(), /CONNECTOR_MAX_BODY/);
      await waitFor(() => proxy.seenRequests.slice(since).some((seen) => seen.method === 'DELETE' && seen.url.includes('upload_id=')), 'the session to be cancelled');
      assert.equal(await getDirect(emulator, bucket, 'cut/too-big.bin'), undefined);
    });
  });

  it('cas: an upload overtaken by another writer mid-way ends in 409 and the other writer\'s object stays', async () => {
    const key = 'race/overtaken.bin';
    const generation = await putDirect(emulator, bucket, key, 'v1');
    const since = proxy.seenRequests.length;
    const size = 24 * MIB;
    const put = await openRawPut(variants.of('cas').socketPath, key, size, `If-Match: "${generation}"\r\n`);
    const pieces = [...patternedChunks(size)];
    put.send(pieces.slice(0, 12));
    await waitFor(() => chunkPuts(since).length >= 1, 'the first chunk to reach GCS');
    await putDirect(emulator, bucket, key, 'the other writer');
    put.send(pieces.slice(12));
    await put.closed;
    assert.match(put.answer(), /^HTTP\/1\.1 409 /, put.answer().slice(0, 200));
    assert.match(put.answer(), /"error":"conflict"/);
    assert.equal((await getDirect(emulator, bucket, key))?.toString(), 'the other writer');
  });
});

describe('a chunk that fails in flight resumes from what GCS holds', () => {
  it('a 503 on the second chunk: the session is asked, that chunk is sent again, the object is byte-exact', async () => {
    const size = 20 * MIB;
    const since = proxy.seenRequests.length;
    const queriesBefore = proxy.statusQueries;
    proxy.inject((req) => String(req.headers['content-range']).startsWith(`bytes ${CHUNK}-`), { kind: 'status', status: 503 });
    const put = await request(variants.of('cas').socketPath, '/keys/resume/503.bin', { method: 'PUT', body: patternedChunks(size) as unknown as AsyncIterable<Buffer>, headers: { 'content-length': String(size) } });
    assert.equal(put.status, 204, put.text());
    assert.equal(proxy.statusQueries, queriesBefore + 1, 'one status query');
    assert.deepEqual(chunkPuts(since).map((p) => p.range), [
      `bytes 0-${CHUNK - 1}/${size}`,
      `bytes ${CHUNK}-${2 * CHUNK - 1}/${size}`,
      `bytes */${size}`,
      `bytes ${CHUNK}-${2 * CHUNK - 1}/${size}`,
      `bytes ${2 * CHUNK}-${size - 1}/${size}`,
    ]);
    assert.equal(md5Of([(await getDirect(emulator, bucket, 'resume/503.bin')) ?? Buffer.alloc(0)]), md5Of(patternedChunks(size)));
  });

  it('an answer lost after GCS took the chunk: the status says so and nothing is sent twice', async () => {
    const size = 20 * MIB;
    const since = proxy.seenRequests.length;
    proxy.inject((req) => String(req.headers['content-range']).startsWith(`bytes ${CHUNK}-`), { kind: 'lose-answer' });
    const put = await request(variants.of('lww').socketPath, '/keys/resume/lost.bin', { method: 'PUT', body: patternedChunks(size) as unknown as AsyncIterable<Buffer>, headers: { 'content-length': String(size) } });
    assert.equal(put.status, 204, put.text());
    assert.deepEqual(chunkPuts(since).map((p) => p.range), [
      `bytes 0-${CHUNK - 1}/${size}`,
      `bytes ${CHUNK}-${2 * CHUNK - 1}/${size}`,
      `bytes */${size}`,
      `bytes ${2 * CHUNK}-${size - 1}/${size}`,
    ]);
    assert.equal(md5Of([(await getDirect(emulator, bucket, 'resume/lost.bin')) ?? Buffer.alloc(0)]), md5Of(patternedChunks(size)));
  });

  it('the last chunk\'s answer lost after GCS stored the object: the status answers the object, the PUT succeeds', async () => {
    const size = 12 * MIB;
    proxy.inject((req) => String(req.headers['content-range']).startsWith(`bytes ${CHUNK}-`), { kind: 'lose-answer' });
    const put = await request(variants.of('cas').socketPath, '/keys/resume/lost-last.bin', { method: 'PUT', body: patternedChunks(size) as unknown as AsyncIterable<Buffer>, headers: { 'content-length': String(size) } });
    assert.equal(put.status, 204, put.text());
    assert.equal(md5Of([(await getDirect(emulator, bucket, 'resume/lost-last.bin')) ?? Buffer.alloc(0)]), md5Of(patternedChunks(size)));
  });
});

describe('bodies cut short', () => {
  it('a client gone before Content-Length is reached: no object, connector serving', async () => {
    await new Promise<void>((resolve) => {
      const socket = connect(variants.of('cas').socketPath, () => {
        socket.write(`PUT /keys/cut/content-length HTTP/1.1\r\nHost: x\r\nContent-Length: ${6 * MIB}\r\n\r\n`);
        for (const piece of patternedChunks(3 * MIB)) socket.write(piece);
        socket.end(resolve);
      });
    });
    assert.equal((await request(variants.of('cas').socketPath, '/healthz')).status, 200);
    assert.equal(await getDirect(emulator, bucket, 'cut/content-length'), undefined);
  });

  it('a socket closed mid-chunked-body: no object', async () => {
    await new Promise<void>((resolve) => {
      const socket = connect(variants.of('cas').socketPath, () => {
        socket.write('PUT /keys/cut/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
        for (const piece of patternedChunks(3 * MIB)) socket.write(`${piece.length.toString(16)}\r\n${piece.toString('latin1')}\r\n`, 'latin1');
        socket.destroy();
        resolve();
      });
    });
    assert.equal((await request(variants.of('cas').socketPath, '/healthz')).status, 200);
    assert.equal(await getDirect(emulator, bucket, 'cut/chunked'), undefined);
  });

  it('Expect: 100-continue: an upload over the limit is refused before its body is sent; an accepted one gets 100 first', async () => {
    const socketPath = variants.of('cas').socketPath;
    const socket = connect(socketPath);
    let received = '';
    socket.on('data', (piece: Buffer) => { received += piece.toString('latin1'); });
    socket.write('PUT /keys/continue/ok HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
    await waitFor(() => /^HTTP\/1\.1 100 Continue\r\n\r\n/.test(received), '100 Continue');
    socket.write('hello');
    await waitFor(() => /HTTP\/1\.1 204 /.test(received), 'the 204');
    socket.destroy();
    assert.equal((await getDirect(emulator, bucket, 'continue/ok'))?.toString(), 'hello');

    const refused = await rawExchange(socketPath,
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
      const raw = await rawExchange(variants.of('cas').socketPath, Buffer.concat([Buffer.from(head), payload]), { waitMs: 5_000 });
      assert.match(raw, /^HTTP\/1\.1 400 /, `round ${round} (${chunked ? 'chunked' : 'Content-Length'}): ${JSON.stringify(raw.slice(0, 80))}`);
      assert.match(raw, /"error":"bad_request"/);
    }
  });

  it('broken chunking is answered 400 with JSON, and nothing is stored', async () => {
    const answer = await rawExchange(variants.of('cas').socketPath,
      'PUT /keys/cut/garbage HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZZ-not-hex\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /"error":"bad_request"/);
    assert.equal(await getDirect(emulator, bucket, 'cut/garbage'), undefined);
  });

  it('a Content-Length body that ends early with the request still open is never uploaded', async () => {
    // The client half-closes after fewer bytes than announced.
    const answer = await rawExchange(variants.of('cas').socketPath,
      'PUT /keys/cut/half HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-twenty-bytes...', { endAfterWrite: true });
    assert.ok(!answer.includes(' 204 '), 'never acknowledged as stored');
    assert.equal(await getDirect(emulator, bucket, 'cut/half'), undefined);
  });
});
