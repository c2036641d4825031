/**
 * Parallel uploads (CONNECTOR_UPLOAD_STREAMS above 1): a body announced longer than one
 * chunk goes up as temporary parts side by side, composed into the object at the end.
 * Byte-exact through both variants, with composes of at most 32 sources; the parts are
 * gone afterwards whatever the outcome; a body stopped half-way leaves nothing; a CAS
 * upload overtaken by another writer ends in 409 and the other writer's object stays.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startVariantConnectors, type VariantConnectors } from '../helpers/variant-connectors.ts';
import { getDirect, objectNames, probeQuirks, putDirect, startEmulator, type Emulator, type EmulatorQuirks } from '../helpers/emulator.ts';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { recordFigures } from '../helpers/figures.ts';
import { md5Of, patternedChunks, streamedGet, waitFor } from '../helpers/large-bodies.ts';
import { metricValue, openRawPut, request } from '../helpers/socket-http.ts';

const MIB = 1024 * 1024;
const PARTS_PREFIX = '.asya-upload-parts/';
/** 1 MiB parts, four uploading at once, in a budget that grants them whatever this process weighs. */
const PARALLEL = { CONNECTOR_UPLOAD_STREAMS: '4', CONNECTOR_UPLOAD_CHUNK: '1Mi', CONNECTOR_MEMORY_BUDGET: '48Mi', GCS_TIMEOUT_MS: '30000' };

let emulator: Emulator;
let proxy: FaultProxy;
let quirks: EmulatorQuirks;
let variants: VariantConnectors;
const bucket = 'parallel-uploads';

before(async () => {
  emulator = await startEmulator();
  await emulator.createBucket(bucket);
  quirks = await probeQuirks(emulator, bucket);
  proxy = await startFaultProxy(emulator.origin);
  variants = await startVariantConnectors({ emulatorOrigin: proxy.origin, bucket, env: PARALLEL });
});
after(async () => {
  await variants.stop();
  await proxy.close();
  await emulator.stop();
});

/** Part uploads (multipart POSTs) the proxy saw since `since`. */
function partUploads(since: number): number {
  return proxy.seenRequests.slice(since).filter((seen) => seen.method === 'POST' && seen.url.includes('uploadType=multipart')).length;
}

/** Composes the proxy saw since `since`: destination object and query. */
function composes(since: number): { destination: string; query: URLSearchParams }[] {
  return proxy.seenRequests.slice(since)
    .filter((seen) => seen.method === 'POST' && seen.url.includes('/compose'))
    .map((seen) => {
      const url = new URL(seen.url, 'http://x');
      const destination = decodeURIComponent(/\/o\/(.+)\/compose$/.exec(url.pathname)?.[1] ?? '');
      return { destination, query: url.searchParams };
    });
}

async function partsLeft(): Promise<string[]> {
  return (await objectNames(emulator, bucket)).filter((name) => name.startsWith(PARTS_PREFIX));
}

describe('parallel uploads: parts side by side, composed into the object', () => {
  for (const variant of ['lww', 'cas'] as const) {
    it(`${variant}: a 40 MiB PUT goes up as 40 parts, composed 32 at a time, and GET returns it byte-exact; no part is left`, async () => {
      const size = 40 * MIB;
      const key = `weights/${variant}-model.bin`;
      const since = proxy.seenRequests.length;
      const parallelBefore = await metricValue(variants.of(variant).socketPath, 'asya_state_uploads_parallel_total');
      const started = Date.now();
      const put = await request(variants.of(variant).socketPath, `/keys/${key}`, {
        method: 'PUT',
        body: patternedChunks(size) as unknown as AsyncIterable<Buffer>,
        headers: { 'content-length': String(size), 'content-type': 'application/x-model' },
      });
      const putSeconds = (Date.now() - started) / 1000;
      assert.equal(put.status, 204, put.text());
      assert.equal(partUploads(since), 40, 'one upload per 1 MiB part');
      assert.equal(await metricValue(variants.of(variant).socketPath, 'asya_state_uploads_parallel_total'), parallelBefore + 1);
      const seen = composes(since);
      assert.equal(seen.length, 3, 'two intermediate composes (32 + 8 parts), then the object');
      assert.match(seen[0]?.destination ?? '', new RegExp(`^${PARTS_PREFIX.replace('.', '\\.')}[0-9a-f-]{36}/l1-[01]$`));
      assert.equal(seen[2]?.destination, key, 'the object is made by the last compose');

      const expected = md5Of(patternedChunks(size));
      assert.equal(md5Of([(await getDirect(emulator, bucket, key)) ?? Buffer.alloc(0)]), expected);
      assert.deepEqual(await streamedGet(variants.of(variant).socketPath, key), { status: 200, length: String(size), bytes: size, md5: expected });
      const head = await request(variants.of(variant).socketPath, `/keys/${key}`, { method: 'HEAD' });
      assert.equal(head.headers['content-type'], 'application/x-model');
      assert.deepEqual(await partsLeft(), [], 'every part and intermediate object was deleted');
      recordFigures(`40 MiB parallel PUT (${variant}, 4 streams of 1 MiB parts)`, { bytes: size, put_seconds: putSeconds, peak_rss_mib: variants.of(variant).peakRssMiB() });
    });
  }

  it('a part refused once (503) is sent again; the object is byte-exact', async () => {
    const size = 6 * MIB;
    const since = proxy.seenRequests.length;
    proxy.inject((req) => req.method === 'POST' && String(req.url).includes('uploadType=multipart'), { kind: 'status', status: 503 });
    const put = await request(variants.of('lww').socketPath, '/keys/weights/retried.bin', { method: 'PUT', body: patternedChunks(size) as unknown as AsyncIterable<Buffer>, headers: { 'content-length': String(size) } });
    assert.equal(put.status, 204, put.text());
    assert.equal(partUploads(since), 7, 'six parts, one of them twice');
    assert.equal(md5Of([(await getDirect(emulator, bucket, 'weights/retried.bin')) ?? Buffer.alloc(0)]), md5Of(patternedChunks(size)));
    assert.deepEqual(await partsLeft(), []);
  });

  it('a body without Content-Length streams through one resumable session, as without parallel uploads', async () => {
    const since = proxy.seenRequests.length;
    const put = await request(variants.of('lww').socketPath, '/keys/weights/unannounced.bin', { method: 'PUT', body: patternedChunks(3 * MIB) as unknown as AsyncIterable<Buffer> });
    assert.equal(put.status, 204, put.text());
    assert.equal(composes(since).length, 0);
    assert.ok(proxy.seenRequests.slice(since).some((seen) => seen.url.includes('uploadType=resumable')), 'a resumable session was opened');
  });

  it('a client that stops half-way leaves no object and no parts', async () => {
    const size = 24 * MIB;
    const key = 'weights/stopped.bin';
    const since = proxy.seenRequests.length;
    const put = await openRawPut(variants.of('cas').socketPath, key, size, '');
    put.send([...patternedChunks(size / 2)]);
    await waitFor(() => partUploads(since) >= 8, 'parts of the first half to be uploaded');
    put.destroy();
    await put.closed;
    await waitFor(async () => (await partsLeft()).length === 0, 'the parts of the stopped upload to be deleted');
    assert.equal(await getDirect(emulator, bucket, key), undefined, 'no object');
    assert.equal(composes(since).length, 0, 'nothing was composed');
    const health = await request(variants.of('cas').socketPath, '/healthz');
    assert.equal(health.status, 200, 'the connector keeps serving');
  });

  it('cas: an upload overtaken by another writer mid-way ends in 409 and the other writer\'s object stays', async () => {
    const key = 'race/overtaken-parallel.bin';
    const generation = await putDirect(emulator, bucket, key, 'v1');
    if (!quirks.composeHonoursPreconditions) {
      console.log('# fake-gcs-server ignores ifGenerationMatch on compose: the proxy answers the final compose 412, as GCS does when the generation moved');
      proxy.inject((req) => String(req.url).includes(`/o/${encodeURIComponent(key)}/compose`), { kind: 'status', status: 412 });
    }
    const size = 12 * MIB;
    const since = proxy.seenRequests.length;
    const put = await openRawPut(variants.of('cas').socketPath, key, size, `If-Match: "${generation}"\r\n`);
    const pieces = [...patternedChunks(size)];
    put.send(pieces.slice(0, 6));
    await waitFor(() => partUploads(since) >= 1, 'the first part to reach GCS');
    await putDirect(emulator, bucket, key, 'the other writer');
    put.send(pieces.slice(6));
    await put.closed;
    assert.match(put.answer(), /^HTTP\/1\.1 409 /, put.answer().slice(0, 200));
    assert.match(put.answer(), /"error":"conflict"/);
    assert.equal(composes(since).at(-1)?.query.get('ifGenerationMatch'), generation, 'the final compose carries the generation the client read');
    assert.equal((await getDirect(emulator, bucket, key))?.toString(), 'the other writer');
    assert.deepEqual(await partsLeft(), []);
  });
});
