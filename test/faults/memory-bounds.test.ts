/**
 * Memory under load and hostile input, measured as a pod runs the connector: the compiled
 * dist/connector.js with the image's V8 flags (`--expose-gc --max-semi-space-size=2 --max-old-space-size=64`).
 * Each row starts a fresh connector, applies one load from docs/reliability.md's table,
 * and checks that the process is still serving, that what it answered is true, and that
 * its peak resident set stayed under the seed's 128Mi limit. Sizes are full under
 * `npm run test:faults` (MEMORY_ROWS=full) and smaller in the main test command.
 */
import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import { Agent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Connector } from '../helpers/connector.ts';
import { holdThenFinish, inParallel, runImageRow } from '../helpers/image-connector.ts';
import { freePort, getDirect, startEmulator, type Emulator } from '../helpers/emulator.ts';
import { startMemoryBackend } from '../../bench/start-memory-backend.ts';
import { openFds } from '../helpers/proc.ts';
import { request } from '../helpers/socket-http.ts';

const FULL = process.env.MEMORY_ROWS === 'full';
const MIB = 1024 * 1024;

let emulator: Emulator;
const bucket = 'memory-bounds';

before(async () => {
  emulator = await startEmulator();
  await emulator.createBucket(bucket);
});
after(async () => {
  await emulator.stop();
});

/** Runs one row against `origin` (the emulator unless a row says otherwise). */
function withImageConnector(variant: 'lww' | 'cas', env: Record<string, string>, load: (connector: Connector) => Promise<Record<string, unknown>>, check: string, origin = emulator.origin): Promise<void> {
  return runImageRow({ variant, env, check, origin, bucket }, load);
}

/** Opens `count` idle connections with `open`; answers them once all are open or refused. */
async function idleConnections(count: number, open: () => Socket): Promise<{ sockets: Socket[]; closedByServer: () => number }> {
  const sockets: Socket[] = [];
  let closed = 0;
  for (let i = 0; i < count; i++) {
    const socket = open();
    socket.on('error', () => undefined);
    socket.on('close', () => { closed += 1; });
    sockets.push(socket);
    if (i % 200 === 199) await sleep(5);
  }
  await sleep(1_500);
  return { sockets, closedByServer: () => closed };
}

describe(`memory bounds with the image's flags (${FULL ? 'full' : 'reduced'} sizes)`, () => {
  it('24 concurrent PUTs of 4 MiB - 1 held before their last byte: those that fit the budget are read, the rest wait their turn, all are stored', async () => {
    await withImageConnector('lww', {}, async (connector) => {
      const size = 4 * MIB - 1;
      const { rssWhileHeldMiB: heldPeak, waiting, answers } = await holdThenFinish(connector, 24, (i) => ({
        head: `PUT /keys/held/${i} HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`,
        body: Buffer.alloc(size, i),
      }));
      assert.ok(waiting > 0, 'bodies beyond the budget wait before they are read');
      assert.ok(answers.every((answer) => answer.startsWith('HTTP/1.1 204 ')), answers.map((a) => a.slice(0, 40)).join(' | '));
      assert.equal((await getDirect(emulator, bucket, 'held/23'))?.length, size);
      return { puts: 24, body_bytes: size, rss_while_held_mib: heldPeak, waiting_while_held: waiting, stored: 24 };
    }, '24 PUTs of 4 MiB held open');
  });

  it('a whole (unpaged) listing of thousands of ~990-byte names streams page by page', async () => {
    const count = FULL ? 30_000 : 3_000;
    const stem = `b30/${'n'.repeat(970)}-`;
    // fake-gcs-server v1.56 takes time quadratic in the objects it holds to create them (30,000
    // took over ten minutes here); what this row measures is the connector's memory, so its
    // names live in the benchmark backend, which pages listings as GCS does.
    console.log('# listing row: names held by bench/memory-backend.ts (fake-gcs-server creates 30,000 objects too slowly)');
    const backend = await startMemoryBackend();
    try {
      await inParallel(count, 16, async (i) => {
        const res = await fetch(`${backend.origin}/upload/storage/v1/b/${bucket}/o?uploadType=media&name=${encodeURIComponent(`${stem}${String(i).padStart(6, '0')}`)}`, { method: 'POST', body: 'x' });
        await res.arrayBuffer();
        assert.equal(res.status, 200);
      });
      await withImageConnector('lww', {}, async (connector) => {
        const started = Date.now();
        const answer = await request(connector.socketPath, '/keys/?prefix=b30/&delimiter=');
        assert.equal(answer.status, 200);
        const listing = answer.json<{ keys: string[]; prefixes: string[] }>();
        assert.equal(listing.keys.length, count, 'every key is listed');
        assert.equal(new Set(listing.keys).size, count);
        return { keys: count, name_bytes: stem.length + 6, response_mib: Math.round((answer.body.length / MIB) * 10) / 10, seconds: (Date.now() - started) / 1000 };
      }, 'unpaged listing of ~990-byte names', backend.origin);
    } finally {
      backend.stop();
    }
  });

  it('reads of tens of thousands of distinct missing 1,000-byte keys on CAS: the generation memory is bounded in bytes', async () => {
    const count = FULL ? 45_000 : 6_000;
    await withImageConnector('cas', {}, async (connector) => {
      const agent = new Agent({ keepAlive: true, maxSockets: 8 });
      const long = 'k'.repeat(990);
      let missing = 0;
      await inParallel(count, 8, async (i) => {
        const answer = await request(connector.socketPath, `/keys/miss/${long}${String(i).padStart(6, '0')}`, { agent });
        if (answer.status === 404) missing += 1;
      });
      agent.destroy();
      assert.equal(missing, count);
      const metrics = (await request(connector.socketPath, '/metrics')).text();
      const casBytes = Number(/asya_state_memory_budget_used_bytes\{use="cas_memory"\} (\d+)/.exec(metrics)?.[1]);
      return { reads: count, key_bytes: 1000, cas_memory_mib: Math.round((casBytes / MIB) * 10) / 10 };
    }, 'distinct missing 1,000-byte keys on CAS');
  });

  it('thousands of idle TCP connections on the ops port are capped', async () => {
    const count = FULL ? 6_000 : 2_000;
    const port = await freePort();
    await withImageConnector('lww', { CONNECTOR_OPS_PORT: `127.0.0.1:${port}` }, async (connector) => {
      const pid = connector.process.pid ?? 0;
      const fdsBefore = openFds(pid);
      const { sockets, closedByServer } = await idleConnections(count, () => tcpConnect(port, '127.0.0.1'));
      const fdsDuring = openFds(pid);
      const scrape = await fetch(`http://127.0.0.1:${port}/healthz`).then((res) => res.status, (error: unknown) => String(error));
      for (const socket of sockets) socket.destroy();
      assert.ok(fdsDuring - fdsBefore <= 200, `descriptors grew by ${fdsDuring - fdsBefore}`);
      assert.equal(scrape, 200, 'a probe still finds room: the oldest idle connection is closed for it');
      return { connections: count, closed_by_connector: closedByServer(), fds_before: fdsBefore, fds_during: fdsDuring, healthz_during: scrape };
    }, 'idle TCP connections on the ops port');
  });

  it('thousands of idle connections on the Unix socket are capped', async () => {
    const count = FULL ? 5_000 : 2_000;
    await withImageConnector('lww', {}, async (connector) => {
      const pid = connector.process.pid ?? 0;
      const fdsBefore = openFds(pid);
      const { sockets, closedByServer } = await idleConnections(count, () => connectUnix(connector.socketPath));
      const fdsDuring = openFds(pid);
      for (const socket of sockets) socket.destroy();
      assert.ok(fdsDuring - fdsBefore <= 256 + 64 + 16, `descriptors grew by ${fdsDuring - fdsBefore}`);
      return { connections: count, closed_by_connector: closedByServer(), fds_before: fdsBefore, fds_during: fdsDuring };
    }, 'idle connections on the Unix socket');
  });

  it('one large PUT streams through in chunks: neither the body nor a disk spool', async () => {
    const size = FULL ? 256 * MIB : 96 * MIB;
    await withImageConnector('lww', {}, async (connector) => {
      const started = Date.now();
      assert.equal(await putFilled(connector.socketPath, 'large/one.bin', size, 0x5a), 204);
      const stored = await fetch(`${emulator.origin}/storage/v1/b/${bucket}/o/${encodeURIComponent('large/one.bin')}`).then(async (res) => (await res.json()) as { size: string });
      assert.equal(Number(stored.size), size);
      return { body_mib: size / MIB, seconds: (Date.now() - started) / 1000 };
    }, 'one large PUT');
  });

  it('a large PUT, then three GETs of it at once, read in ranges: the transfer after the transfer stays bounded too', async () => {
    // Byte volume, not object count, is what this row needs: fake-gcs-server serializes
    // requests and re-hashes uploads, so the object lives in the benchmark backend.
    console.log('# large PUT then GETs: the object is held by bench/memory-backend.ts (fake-gcs-server moves GiBs too slowly)');
    const size = FULL ? 1024 * MIB : 256 * MIB;
    const backend = await startMemoryBackend();
    try {
      await withImageConnector('cas', {}, async (connector) => {
        const started = Date.now();
        assert.equal(await putFilled(connector.socketPath, 'large/then-read.bin', size, 0x6b), 204);
        const lengths = await Promise.all(Array.from({ length: 3 }, () => new Promise<number>((resolve, reject) => {
          httpGet(connector.socketPath, '/keys/large/then-read.bin', (res) => {
            let length = 0;
            res.on('data', (chunk: Buffer) => { length += chunk.length; });
            res.on('end', () => { resolve(length); });
            res.on('error', reject);
          }).on('error', reject);
        })));
        assert.deepEqual(lengths, [size, size, size], 'every GET got the whole object');
        return { object_mib: size / MIB, gets: 3, seconds: (Date.now() - started) / 1000 };
      }, 'large PUT, then three ranged GETs at once', backend.origin);
    } finally {
      backend.stop();
    }
  });
});

/** PUTs `size` bytes of `byte` (a multiple of 1 MiB), one reused 1 MiB piece at a time; answers the status. */
async function putFilled(socketPath: string, key: string, size: number, byte: number): Promise<number> {
  const piece = Buffer.alloc(MIB, byte);
  const answer = await request(socketPath, `/keys/${key}`, {
    method: 'PUT',
    headers: { 'content-length': String(size) },
    body: (async function* () { for (let sent = 0; sent < size; sent += MIB) yield piece; })(),
  });
  return answer.status;
}

/** A GET over the Unix socket, streamed (the body is counted, never held). */
function httpGet(socketPath: string, path: string, onResponse: (res: IncomingMessage) => void): ClientRequest {
  return httpRequest({ socketPath, path, agent: false }, onResponse).end();
}

function connectUnix(path: string): Socket {
  return tcpConnect({ path });
}
