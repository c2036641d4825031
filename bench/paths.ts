/**
 * The ways to reach the backend that the benchmarks compare: our GCS client called
 * directly; the floor (bench/floor-proxy.ts, a bare pass-through); and the connector over
 * its Unix socket with kept-alive connections or with a new connection per request (as
 * the Python runtime does).
 */
import { createHash } from 'node:crypto';
import { Agent, request } from 'node:http';
import { Readable } from 'node:stream';
import type { ObjectStore } from '../src/store/object-store.ts';

export type PathName = 'direct' | 'floor' | 'connector-keepalive' | 'connector-per-request';
export type OpName = 'GET' | 'PUT' | 'HEAD' | 'DELETE' | 'LIST';

/** One way to run each benchmark operation. */
export interface BenchPath {
  readonly name: PathName;
  get(key: string): Promise<void>;
  put(key: string, body: Buffer): Promise<void>;
  head(key: string): Promise<void>;
  remove(key: string): Promise<void>;
  list(prefix: string): Promise<void>;
  close(): void;
}

export function directPath(store: ObjectStore): BenchPath {
  return {
    name: 'direct',
    async get(key) {
      const download = await store.read(key);
      for await (const _chunk of download.body) { /* consumed */ }
    },
    async put(key, body) {
      // A direct caller sends the MD5 too, as the connector does, so both pay for it.
      const md5Base64 = createHash('md5').update(body).digest('base64');
      const only = { offset: 0, size: body.length, buffers: [body], last: true, md5Base64 };
      await store.write(key, { declaredSize: body.length, next: () => Promise.resolve(only), done: () => undefined }, { contentType: 'application/octet-stream' });
    },
    async head(key) { await store.stat(key); },
    async remove(key) { await store.remove(key); },
    async list(prefix) { await store.list({ prefix, delimiter: '/', pageSize: 1000, pageToken: undefined }); },
    // The store is shared by every cell; its owner closes it.
    close() { /* nothing per path */ },
  };
}

export function connectorPath(socketPath: string, keepAlive: boolean, concurrency: number): BenchPath {
  const agent = keepAlive ? new Agent({ keepAlive: true, maxSockets: concurrency }) : false;
  const send = (method: string, path: string, body?: Buffer): Promise<void> => new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method, agent, headers: body === undefined ? {} : { 'content-length': body.length } }, (res) => {
      res.on('error', reject);
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status >= 300) reject(new Error(`${method} ${path}: HTTP ${status}`));
        else resolve();
      });
      res.resume();
    });
    req.on('error', reject);
    req.end(body);
  });
  return {
    name: keepAlive ? 'connector-keepalive' : 'connector-per-request',
    get: (key) => send('GET', `/keys/${key}`),
    put: (key, body) => send('PUT', `/keys/${key}`, body),
    head: (key) => send('HEAD', `/keys/${key}`),
    remove: (key) => send('DELETE', `/keys/${key}`),
    list: (prefix) => send('GET', `/keys/?prefix=${encodeURIComponent(prefix)}&delimiter=/`),
    close() { if (agent !== false) agent.destroy(); },
  };
}

/** The floor proxy, reached as the connector is on kept-alive connections. */
export function floorPath(socketPath: string, concurrency: number): BenchPath {
  return { ...connectorPath(socketPath, true, concurrency), name: 'floor' };
}

/** Deterministic bytes, `total` of them, a chunk at a time (for the 1 GiB transfers). */
export function patternStream(total: number, chunkSize = 1024 * 1024): Readable {
  const chunk = patternChunk(chunkSize);
  return Readable.from((function* () {
    for (let sent = 0; sent < total; sent += chunkSize) yield sent + chunkSize <= total ? chunk : chunk.subarray(0, total - sent);
  })());
}

/** The same bytes as patternStream, sent no faster than `mibps` MiB/s (a client behind a network link). */
export function pacedPatternStream(total: number, mibps: number, chunkSize = 1024 * 1024): Readable {
  const chunk = patternChunk(chunkSize);
  const bytesPerMs = (mibps * 1024 * 1024) / 1000;
  return Readable.from((async function* () {
    const startedAt = performance.now();
    for (let sent = 0; sent < total; sent += chunkSize) {
      const wait = startedAt + sent / bytesPerMs - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      yield sent + chunkSize <= total ? chunk : chunk.subarray(0, total - sent);
    }
  })());
}

function patternChunk(chunkSize: number): Buffer {
  const chunk = Buffer.alloc(chunkSize);
  for (let i = 0; i < chunkSize; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i);
  return chunk;
}
