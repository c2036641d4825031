/**
 * The generation-validated read cache (CONNECTOR_CACHE). A hit needs a backend that
 * answers `ifGenerationNotMatch` on media downloads with 304; fake-gcs-server v1.56.1
 * does not (it sends the bytes), which is detected and reported here, so hits, savings
 * and eviction are checked against the benchmark backend (bench/memory-backend.ts),
 * and what fake-gcs-server can show (changed, deleted, restart, correctness) against it.
 */
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startMemoryBackend, type MemoryBackend } from '../../bench/start-memory-backend.ts';
import { socketScopedDir } from '../../src/socket-scoped-dir.ts';
import { startConnector, type Connector } from '../helpers/connector.ts';
import { putDirect, startEmulator, type Emulator } from '../helpers/emulator.ts';
import { metricValue, request } from '../helpers/socket-http.ts';

const MIB = 1024 * 1024;
const bytes = (size: number, fill: number): Buffer => Buffer.alloc(size, fill);

/** Bytes of the files in a cache directory, temp files included. */
function cacheDirBytes(root: string): number {
  let total = 0;
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += statSync(join(entry.parentPath, entry.name)).size;
  }
  return total;
}

/** Direct writes and deletes on the benchmark backend (another writer, not the connector). */
async function putOnBackend(backend: MemoryBackend, name: string, body: Buffer): Promise<void> {
  const res = await fetch(`${backend.origin}/upload/storage/v1/b/bench/o?uploadType=media&name=${encodeURIComponent(name)}`, { method: 'POST', body });
  assert.equal(res.status, 200);
  await res.arrayBuffer();
}
async function deleteOnBackend(backend: MemoryBackend, name: string): Promise<void> {
  const res = await fetch(`${backend.origin}/storage/v1/b/bench/o/${encodeURIComponent(name)}`, { method: 'DELETE' });
  assert.equal(res.status, 204);
}

describe('read cache on a backend that honours ifGenerationNotMatch (benchmark backend)', () => {
  let backend: MemoryBackend;
  let connector: Connector;
  let cacheRoot: string;
  const cacheEnv = (): Record<string, string> => ({ CONNECTOR_CACHE: `${cacheRoot}:5Mi` });

  before(async () => {
    backend = await startMemoryBackend();
    cacheRoot = mkdtempSync(join(tmpdir(), 'asya-cache-'));
    connector = await startConnector({ emulatorOrigin: backend.origin, bucket: 'bench', variant: 'cas', env: cacheEnv() });
  });
  after(async () => {
    await connector.stop();
    backend.stop();
  });

  it('an unchanged object costs one conditional request and no body: served from disk, byte for byte', async () => {
    const content = bytes(2 * MIB, 1);
    await putOnBackend(backend, 'weights/model.bin', content);
    const first = await request(connector.socketPath, '/keys/weights/model.bin');
    assert.deepEqual(first.body, content);
    const before = await backend.stats();
    const second = await request(connector.socketPath, '/keys/weights/model.bin');
    const after = await backend.stats();
    assert.deepEqual(second.body, content);
    assert.equal(second.headers.etag, first.headers.etag);
    assert.equal(after.media_requests - before.media_requests, 1, 'one request to the backend');
    assert.equal(after.not_modified - before.not_modified, 1, 'answered 304');
    assert.equal(after.media_bytes_sent - before.media_bytes_sent, 0, 'no body transferred');
    assert.equal(await metricValue(connector.socketPath, 'asya_state_cache_hits_total'), 1);
    assert.equal(await metricValue(connector.socketPath, 'asya_state_cache_bytes_saved_total'), 2 * MIB);
  });

  it('a changed object is downloaded once, served and stored in the same pass', async () => {
    const changed = bytes(2 * MIB, 2);
    await putOnBackend(backend, 'weights/model.bin', changed);
    const before = await backend.stats();
    assert.deepEqual((await request(connector.socketPath, '/keys/weights/model.bin')).body, changed);
    const middle = await backend.stats();
    assert.equal(middle.media_requests - before.media_requests, 1, 'the conditional request brought the new bytes');
    assert.equal(middle.media_bytes_sent - before.media_bytes_sent, 2 * MIB);
    assert.deepEqual((await request(connector.socketPath, '/keys/weights/model.bin')).body, changed);
    assert.equal((await backend.stats()).media_bytes_sent - middle.media_bytes_sent, 0, 'then served from disk');
  });

  it('a deleted object answers 404 and drops its entry', async () => {
    await putOnBackend(backend, 'gone/x.bin', bytes(MIB, 3));
    await request(connector.socketPath, '/keys/gone/x.bin');
    const entries = await metricValue(connector.socketPath, 'asya_state_cache_entries');
    await deleteOnBackend(backend, 'gone/x.bin');
    assert.equal((await request(connector.socketPath, '/keys/gone/x.bin')).status, 404);
    assert.equal(await metricValue(connector.socketPath, 'asya_state_cache_entries'), entries - 1);
  });

  it('objects under the minimum size are never cached', async () => {
    await putOnBackend(backend, 'small.json', Buffer.from('{"tiny":true}'));
    await request(connector.socketPath, '/keys/small.json');
    const before = await backend.stats();
    await request(connector.socketPath, '/keys/small.json');
    assert.equal((await backend.stats()).media_bytes_sent - before.media_bytes_sent, 13);
  });

  it('a PUT through the connector replaces what readers get; a reader already streaming keeps its complete old bytes', async () => {
    const old = bytes(3 * MIB, 4);
    await putOnBackend(backend, 'rw/state.bin', old);
    await request(connector.socketPath, '/keys/rw/state.bin');
    // A slow reader of the cached copy, then a write of new content while it reads.
    const { request: rawRequest } = await import('node:http');
    const received: Buffer[] = [];
    const reading = new Promise<void>((resolve, reject) => {
      rawRequest({ socketPath: connector.socketPath, path: '/keys/rw/state.bin' }, (res) => {
        res.once('data', (chunk: Buffer) => {
          received.push(chunk);
          res.pause();
          void request(connector.socketPath, '/keys/rw/state.bin', { method: 'PUT', body: bytes(3 * MIB, 5) }).then((put) => {
            assert.equal(put.status, 204);
            res.on('data', (more: Buffer) => received.push(more));
            res.on('end', resolve);
            res.resume();
          }, reject);
        });
      }).on('error', reject).end();
    });
    await reading;
    assert.deepEqual(Buffer.concat(received), old, 'the reader saw the old object, whole');
    assert.deepEqual((await request(connector.socketPath, '/keys/rw/state.bin')).body, bytes(3 * MIB, 5));
  });

  it('in the CAS variant a cache hit records the generation, like any read', async () => {
    await putOnBackend(backend, 'cas/w.bin', bytes(MIB, 6));
    await request(connector.socketPath, '/keys/cas/w.bin');
    const hits = await metricValue(connector.socketPath, 'asya_state_cache_hits_total');
    await request(connector.socketPath, '/keys/cas/w.bin');
    assert.equal(await metricValue(connector.socketPath, 'asya_state_cache_hits_total'), hits + 1);
    await putOnBackend(backend, 'cas/w.bin', bytes(MIB, 7));
    const put = await request(connector.socketPath, '/keys/cas/w.bin', { method: 'PUT', body: 'mine' });
    assert.equal(put.status, 409, 'the write is conditional on the generation the hit confirmed');
  });

  it('stays within its budget: least recently used out first, the directory never over the budget', async () => {
    const evictions = await metricValue(connector.socketPath, 'asya_state_cache_evictions_total');
    for (const name of ['lru/a', 'lru/b', 'lru/c']) {
      await putOnBackend(backend, name, bytes(2 * MIB, 8));
      await request(connector.socketPath, `/keys/${name}`);
      assert.ok(cacheDirBytes(cacheRoot) <= 5 * MIB + 64 * 1024, `cache directory ${cacheDirBytes(cacheRoot)} bytes`);
      assert.ok(await metricValue(connector.socketPath, 'asya_state_cache_bytes') <= 5 * MIB);
    }
    assert.ok(await metricValue(connector.socketPath, 'asya_state_cache_evictions_total') > evictions);
    // lru/c was read last: still cached; lru/a was read first: evicted.
    const before = await backend.stats();
    await request(connector.socketPath, '/keys/lru/c');
    const middle = await backend.stats();
    assert.equal(middle.media_bytes_sent - before.media_bytes_sent, 0);
    await request(connector.socketPath, '/keys/lru/a');
    assert.equal((await backend.stats()).media_bytes_sent - middle.media_bytes_sent, 2 * MIB);
  });

  it('survives a restart: entries are taken back, and still validated before being served', async () => {
    await putOnBackend(backend, 'restart/m.bin', bytes(2 * MIB, 9));
    await request(connector.socketPath, '/keys/restart/m.bin');
    await connector.stop();
    connector = await startConnector({ emulatorOrigin: backend.origin, bucket: 'bench', variant: 'cas', socketPath: connector.socketPath, env: cacheEnv() });
    const line = connector.output.find((l) => l.includes('"message":"read cache on"')) ?? '';
    assert.ok((JSON.parse(line) as { restored_entries: number }).restored_entries >= 1, line);
    const before = await backend.stats();
    assert.deepEqual((await request(connector.socketPath, '/keys/restart/m.bin')).body, bytes(2 * MIB, 9));
    const after = await backend.stats();
    assert.equal(after.not_modified - before.not_modified, 1);
    assert.equal(after.media_bytes_sent - before.media_bytes_sent, 0);
    // Changed while the connector was down: the restored entry is not served.
    await putOnBackend(backend, 'restart/m.bin', bytes(2 * MIB, 10));
    assert.deepEqual((await request(connector.socketPath, '/keys/restart/m.bin')).body, bytes(2 * MIB, 10));
  });

  it('verifies what it serves: a copy changed on disk is never served; the read goes to the backend and the copy is dropped', async () => {
    const content = bytes(2 * MIB, 11);
    await putOnBackend(backend, 'tamper/same-size.bin', content);
    await putOnBackend(backend, 'tamper/short.bin', content);
    await request(connector.socketPath, '/keys/tamper/same-size.bin');
    await request(connector.socketPath, '/keys/tamper/short.bin');
    const copyOf = (size: number): string[] => readdirSync(cacheRoot, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile() && !entry.name.endsWith('.json') && statSync(join(entry.parentPath, entry.name)).size === size)
      .map((entry) => join(entry.parentPath, entry.name));
    const copies = copyOf(2 * MIB);
    assert.ok(copies.length >= 2, 'both objects are cached');
    // Same size, one byte flipped, in every 2 MiB copy: checked before its first byte goes out.
    for (const path of copies) {
      const data = readFileSync(path);
      data[1000] = (data[1000] ?? 0) ^ 0xff;
      writeFileSync(path, data);
    }
    const before = await backend.stats();
    assert.deepEqual((await request(connector.socketPath, '/keys/tamper/same-size.bin')).body, content, 'the right bytes, from the backend, at once');
    assert.equal((await backend.stats()).media_bytes_sent - before.media_bytes_sent, 2 * MIB, 'read from the backend, not the copy');
    // A copy of the wrong length is caught before a byte goes out, and the read goes to the backend at once.
    const short = copyOf(2 * MIB).find((path) => readFileSync(path)[1000] !== 11);
    if (short !== undefined) truncateSync(short, MIB);
    assert.deepEqual((await request(connector.socketPath, '/keys/tamper/short.bin')).body, content);
  });
});

describe('read cache directory safety', () => {
  it('serves without the cache when its directory is a symlink, and deletes nothing in its target', async () => {
    const backend = await startMemoryBackend();
    try {
      const root = mkdtempSync(join(tmpdir(), 'asya-cache-link-'));
      const target = mkdtempSync(join(tmpdir(), 'asya-cache-target-'));
      writeFileSync(join(target, 'precious'), 'keep me');
      const socketPath = join(mkdtempSync(join(tmpdir(), 'asya-sock-')), 'state.sock');
      symlinkSync(target, socketScopedDir(root, 'cache', socketPath));
      const connector = await startConnector({ emulatorOrigin: backend.origin, bucket: 'bench', variant: 'lww', socketPath, env: { CONNECTOR_CACHE: root } });
      try {
        assert.match(connector.output.join('\n'), /read cache off: .*not a directory \(a symlink or a file\)/);
        assert.equal((await request(connector.socketPath, '/keys/absent')).status, 404, 'and serves');
      } finally {
        await connector.stop();
      }
      assert.equal(readFileSync(join(target, 'precious'), 'utf8'), 'keep me');
    } finally {
      backend.stop();
    }
  });

  it('serves without the cache when another user pre-created its directory', async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('needs root to give the directory to another uid');
      return;
    }
    const backend = await startMemoryBackend();
    try {
      const root = mkdtempSync(join(tmpdir(), 'asya-cache-uid-'));
      const socketPath = join(mkdtempSync(join(tmpdir(), 'asya-sock-')), 'state.sock');
      const dir = socketScopedDir(root, 'cache', socketPath);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      chownSync(dir, 12345, 12345);
      const connector = await startConnector({ emulatorOrigin: backend.origin, bucket: 'bench', variant: 'lww', socketPath, env: { CONNECTOR_CACHE: root } });
      try {
        assert.match(connector.output.join('\n'), /read cache off: .*belongs to uid 12345/);
        assert.equal((await request(connector.socketPath, '/keys/absent')).status, 404, 'and serves');
      } finally {
        await connector.stop();
      }
      assert.equal(statSync(dir).uid, 12345, 'the directory is left as it was');
    } finally {
      backend.stop();
    }
  });

  it('skips what is not a regular file inside the cache directory instead of failing', async () => {
    const backend = await startMemoryBackend();
    try {
      const root = mkdtempSync(join(tmpdir(), 'asya-cache-odd-'));
      const socketPath = join(mkdtempSync(join(tmpdir(), 'asya-sock-')), 'state.sock');
      const dir = socketScopedDir(root, 'cache', socketPath);
      mkdirSync(join(dir, 'a-subdirectory'), { recursive: true, mode: 0o700 });
      symlinkSync('/etc/hostname', join(dir, 'a-link'));
      const connector = await startConnector({ emulatorOrigin: backend.origin, bucket: 'bench', variant: 'lww', socketPath, env: { CONNECTOR_CACHE: root } });
      await connector.stop();
      assert.ok(existsSync(join(dir, 'a-subdirectory')));
      assert.equal((statSync(dir).mode & 0o777), 0o700);
    } finally {
      backend.stop();
    }
  });
});

describe('read cache on fake-gcs-server', () => {
  let emulator: Emulator;
  let connector: Connector;
  let honours = false;

  before(async () => {
    emulator = await startEmulator();
    await emulator.createBucket('cache-emulator');
    const generation = await putDirect(emulator, 'cache-emulator', 'probe', 'x');
    const probe = await fetch(`${emulator.origin}/storage/v1/b/cache-emulator/o/probe?alt=media&ifGenerationNotMatch=${generation}`);
    await probe.arrayBuffer();
    honours = probe.status === 304;
    if (!honours) console.log(`# emulator: fake-gcs-server answers ${probe.status} with the body to ifGenerationNotMatch on a media download (GCS answers 304); cache hits are checked against the benchmark backend above`);
    connector = await startConnector({ emulatorOrigin: emulator.origin, bucket: 'cache-emulator', variant: 'lww', settings: { cache: { dir: mkdtempSync(join(tmpdir(), 'asya-cache-emu-')), minObjectBytes: 0, maxBytes: 1024 ** 3 } } });
  });
  after(async () => {
    await connector.stop();
    await emulator.stop();
  });

  it('serves exactly the current object whether or not the backend honours the condition', async () => {
    await putDirect(emulator, 'cache-emulator', 'k', bytes(MIB, 1));
    assert.deepEqual((await request(connector.socketPath, '/keys/k')).body, bytes(MIB, 1));
    assert.deepEqual((await request(connector.socketPath, '/keys/k')).body, bytes(MIB, 1));
    assert.equal(await metricValue(connector.socketPath, 'asya_state_cache_hits_total'), honours ? 1 : 0);
    await putDirect(emulator, 'cache-emulator', 'k', bytes(MIB, 2));
    assert.deepEqual((await request(connector.socketPath, '/keys/k')).body, bytes(MIB, 2));
    await fetch(`${emulator.origin}/storage/v1/b/cache-emulator/o/k`, { method: 'DELETE' });
    assert.equal((await request(connector.socketPath, '/keys/k')).status, 404);
  });
});
