/**
 * A minimal, fast, in-memory stand-in for the GCS JSON API, for benchmarks only (never
 * used by the product or its conformance tests). It answers the calls our GCS client
 * makes: media and metadata GET (with ifGenerationMatch / ifGenerationNotMatch), multipart
 * and resumable uploads (MD5 checked, ifGenerationMatch), compose (ifGenerationMatch),
 * DELETE, PATCH of the content type, and listing with prefix, delimiter and pages. fake-gcs-server serializes requests,
 * which hides the connector's own cost; this does not.
 *
 * To behave like GCS where large objects are concerned, it can limit every stream (each
 * request's body, either way) to a bandwidth and delay every answer by a first-byte
 * latency (every request, listings included); media downloads take `Range` and
 * `generation`.
 *
 *   node bench/memory-backend.ts [--port 0] [--stream-mibps 0] [--first-byte-ms 0]
 *     prints {"origin": "..."} on stdout; 0 means no limit, no delay
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, 'stream-mibps': { type: 'string', default: '0' }, 'first-byte-ms': { type: 'string', default: '0' } } });
/** Bytes per millisecond one stream may move; 0: unlimited. */
const STREAM_BYTES_PER_MS = (Number(values['stream-mibps']) * 1024 * 1024) / 1000;
const FIRST_BYTE_MS = Number(values['first-byte-ms']);
/** Piece size of paced downloads. */
const PIECE = 64 * 1024;

interface StoredObject {
  readonly name: string;
  readonly chunks: readonly Buffer[];
  readonly size: number;
  readonly generation: number;
  metageneration: number;
  contentType: string;
  readonly updated: string;
  /** Undefined for a composite, as GCS makes no MD5 for one. */
  readonly md5Base64: string | undefined;
  readonly metadata: Readonly<Record<string, string>>;
}

interface UploadSession {
  readonly name: string;
  readonly contentType: string;
  readonly md5Base64: string | undefined;
  readonly metadata: Record<string, string>;
  readonly ifGenerationMatch: string | undefined;
  readonly chunks: Buffer[];
  received: number;
}

const objects = new Map<string, StoredObject>();
const sessions = new Map<string, UploadSession>();
let sortedNames: string[] | undefined;
let nextGeneration = 1_700_000_000_000_000;
/** What the read-cache benchmark and tests ask: `GET /_bench/stats`. */
const stats = { media_requests: 0, media_bytes_sent: 0, not_modified: 0 };
let nextSession = 1;

function resource(object: StoredObject): Record<string, unknown> {
  return {
    kind: 'storage#object',
    name: object.name,
    bucket: 'bench',
    size: String(object.size),
    generation: String(object.generation),
    metageneration: String(object.metageneration),
    contentType: object.contentType,
    updated: object.updated,
    storageClass: 'STANDARD',
    md5Hash: object.md5Base64,
    metadata: object.metadata,
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { error: { code: status, message, errors: [{ message, reason: 'bench' }] } });
}

/** Waits until a stream that started at `startedAt` may have moved `bytes`. */
async function pace(startedAt: number, bytes: number): Promise<void> {
  if (STREAM_BYTES_PER_MS === 0) return;
  const due = startedAt + bytes / STREAM_BYTES_PER_MS;
  const now = performance.now();
  if (due > now + 1) await sleep(due - now);
}

async function readBody(req: IncomingMessage): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  const startedAt = performance.now();
  let received = 0;
  for await (const chunk of req) {
    chunks.push(chunk as Buffer);
    received += (chunk as Buffer).length;
    await pace(startedAt, received);
  }
  return chunks;
}

/** The object's bytes from `start` to `end` (inclusive), as views. */
function slices(chunks: readonly Buffer[], start: number, end: number): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  for (const chunk of chunks) {
    const from = Math.max(start - offset, 0);
    const to = Math.min(end + 1 - offset, chunk.length);
    if (from < to) out.push(chunk.subarray(from, to));
    offset += chunk.length;
    if (offset > end) break;
  }
  return out;
}

function precondition(query: URLSearchParams, current: StoredObject | undefined): number | undefined {
  const match = query.get('ifGenerationMatch');
  if (match !== null && String(current?.generation ?? 0) !== match) return 412;
  const notMatch = query.get('ifGenerationNotMatch');
  if (notMatch !== null && current !== undefined && String(current.generation) === notMatch) return 304;
  return undefined;
}

function store(name: string, chunks: readonly Buffer[], size: number, contentType: string, metadata: Readonly<Record<string, string>>, md5Base64: string | undefined): StoredObject {
  if (!objects.has(name)) sortedNames = undefined;
  const object: StoredObject = { name, chunks, size, generation: nextGeneration++, metageneration: 1, contentType, updated: new Date().toISOString(), md5Base64, metadata };
  objects.set(name, object);
  return object;
}

function md5Of(chunks: readonly Buffer[]): string {
  const hash = createHash('md5');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('base64');
}

/** Waits for `res` to drain, or to close (a reader that went away never drains). */
function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done).off('close', done);
      resolve();
    };
    res.on('drain', done).on('close', done);
  });
}

async function download(req: IncomingMessage, res: ServerResponse, object: StoredObject): Promise<void> {
  stats.media_requests++;
  const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  const start = range === null ? 0 : Number(range[1]);
  const end = range === null ? object.size - 1 : Math.min(Number(range[2]), object.size - 1);
  res.writeHead(range === null ? 200 : 206, {
    'content-type': object.contentType,
    'content-length': Math.max(0, end - start + 1),
    ...(range === null ? {} : { 'content-range': `bytes ${start}-${end}/${object.size}` }),
    'x-goog-generation': String(object.generation),
    'x-goog-metageneration': String(object.metageneration),
    ...(object.md5Base64 === undefined ? {} : { 'x-goog-hash': `md5=${object.md5Base64}` }),
    'last-modified': new Date(object.updated).toUTCString(),
  });
  const startedAt = performance.now();
  let sent = 0;
  for (const chunk of slices(object.chunks, start, end)) {
    for (let at = 0; at < chunk.length; at += PIECE) {
      const piece = chunk.subarray(at, at + PIECE);
      stats.media_bytes_sent += piece.length;
      sent += piece.length;
      if (!res.write(piece)) await drainedOrClosed(res);
      if (res.destroyed) return;
      await pace(startedAt, sent);
    }
  }
  res.end();
}

function list(res: ServerResponse, query: URLSearchParams): void {
  const prefix = query.get('prefix') ?? '';
  const delimiter = query.get('delimiter') ?? '';
  const maxResults = Number(query.get('maxResults') ?? '1000');
  const pageToken = query.get('pageToken') ?? '';
  sortedNames ??= [...objects.keys()].sort();
  const names = sortedNames;
  let low = 0;
  let high = names.length;
  const start = pageToken > prefix ? pageToken : prefix;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((names[mid] ?? '') < start) low = mid + 1;
    else high = mid;
  }
  const items: Array<{ name: string; size: string }> = [];
  const prefixes: string[] = [];
  let next: string | undefined;
  for (let i = low; i < names.length; i++) {
    const name = names[i] ?? '';
    if (!name.startsWith(prefix)) break;
    if (items.length + prefixes.length >= maxResults) {
      next = name;
      break;
    }
    const cut = delimiter === '' ? -1 : name.indexOf(delimiter, prefix.length);
    if (cut < 0) {
      items.push({ name, size: String(objects.get(name)?.size ?? 0) });
      continue;
    }
    const sub = name.slice(0, cut + delimiter.length);
    if (prefixes.at(-1) !== sub) prefixes.push(sub);
    // Skip the rest of this sub-prefix.
    while (i + 1 < names.length && (names[i + 1] ?? '').startsWith(sub)) i++;
  }
  sendJson(res, 200, { kind: 'storage#objects', items, prefixes, ...(next === undefined ? {} : { nextPageToken: next }) });
}

function splitMultipart(body: Buffer, boundary: string): { metadata: Record<string, unknown>; data: Buffer } | undefined {
  const delimiter = Buffer.from(`--${boundary}`);
  const first = body.indexOf(delimiter);
  const second = body.indexOf(delimiter, first + delimiter.length);
  const end = body.lastIndexOf(Buffer.from(`\r\n--${boundary}--`));
  if (first < 0 || second < 0 || end < 0) return undefined;
  const headEnd = (start: number): number => body.indexOf('\r\n\r\n', start) + 4;
  const jsonStart = headEnd(first);
  const metadata = JSON.parse(body.subarray(jsonStart, second - 2).toString('utf8')) as Record<string, unknown>;
  return { metadata, data: body.subarray(headEnd(second), end) };
}

async function handle(req: IncomingMessage, res: ServerResponse, origin: string): Promise<void> {
  if (FIRST_BYTE_MS > 0) await sleep(FIRST_BYTE_MS);
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const composeMatch = /^\/storage\/v1\/b\/[^/]+\/o\/(.+)\/compose$/.exec(path);
  if (composeMatch?.[1] !== undefined && req.method === 'POST') return compose(req, res, decodeURIComponent(composeMatch[1]), query);
  const objectMatch = /^\/storage\/v1\/b\/[^/]+\/o\/(.+)$/.exec(path);

  if (objectMatch?.[1] !== undefined) {
    const name = decodeURIComponent(objectMatch[1]);
    const object = objects.get(name);
    if (req.method === 'DELETE') {
      if (object === undefined) { sendError(res, 404, `No such object: bench/${name}`); return; }
      const failed = precondition(query, object);
      if (failed !== undefined) { sendError(res, failed, 'precondition failed'); return; }
      objects.delete(name);
      sortedNames = undefined;
      res.writeHead(204).end();
      return;
    }
    if (object === undefined) { sendError(res, 404, `No such object: bench/${name}`); return; }
    const failed = precondition(query, object);
    if (failed === 304) {
      stats.media_requests++;
      stats.not_modified++;
      res.writeHead(304, { 'x-goog-generation': String(object.generation) }).end();
      return;
    }
    if (failed !== undefined) { sendError(res, failed, 'precondition failed'); return; }
    if (req.method === 'PATCH') {
      const patch = JSON.parse(Buffer.concat(await readBody(req)).toString('utf8')) as { contentType?: string };
      if (patch.contentType !== undefined) object.contentType = patch.contentType;
      object.metageneration++;
      sendJson(res, 200, resource(object)); return;
    }
    const pinned = query.get('generation');
    if (pinned !== null && pinned !== String(object.generation)) { sendError(res, 404, `No such object: bench/${name}#${pinned}`); return; }
    if (query.get('alt') === 'media') return download(req, res, object);
    sendJson(res, 200, resource(object)); return;
  }

  if (path === '/_bench/stats') { sendJson(res, 200, stats); return; }
  if (/^\/storage\/v1\/b\/[^/]+\/o$/.test(path) && req.method === 'GET') { list(res, query); return; }
  if (/^\/storage\/v1\/b\/[^/]+$/.test(path)) { sendJson(res, 200, { kind: 'storage#bucket', name: 'bench' }); return; }
  if (path === '/storage/v1/b' && req.method === 'POST') {
    await readBody(req);
    sendJson(res, 200, { kind: 'storage#bucket' }); return;
  }

  if (/^\/upload\/storage\/v1\/b\/[^/]+\/o$/.test(path)) {
    const sessionId = query.get('upload_id');
    if (sessionId !== null && req.method === 'PUT') return resumablePut(req, res, sessionId);
    if (sessionId !== null && req.method === 'DELETE') {
      // Cancelling a session: GCS answers 499.
      sessions.delete(sessionId);
      res.writeHead(499, { 'content-length': 0 }).end();
      return;
    }
    const kind = query.get('uploadType');
    if (kind === 'media' && req.method === 'POST') {
      const name = query.get('name') ?? '';
      const chunks = await readBody(req);
      const size = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
      sendJson(res, 200, resource(store(name, chunks, size, req.headers['content-type'] ?? 'application/octet-stream', {}, md5Of(chunks))));
      return;
    }
    if (kind === 'multipart' && req.method === 'POST') {
      const boundary = /boundary=([^;]+)/.exec(req.headers['content-type'] ?? '')?.[1];
      const parts = boundary === undefined ? undefined : splitMultipart(Buffer.concat(await readBody(req)), boundary);
      if (parts === undefined) { sendError(res, 400, 'malformed multipart body'); return; }
      const name = String(parts.metadata.name);
      const failed = precondition(query, objects.get(name));
      if (failed !== undefined) { sendError(res, failed === 304 ? 412 : failed, 'precondition failed'); return; }
      const md5Base64 = md5Of([parts.data]);
      if (parts.metadata.md5Hash !== undefined && parts.metadata.md5Hash !== md5Base64) { sendError(res, 400, 'Provided MD5 hash does not match'); return; }
      // parts.data is a view of the body just concatenated: stored as it is, uncopied.
      const stored = store(name, [parts.data], parts.data.length, typeof parts.metadata.contentType === 'string' ? parts.metadata.contentType : 'application/octet-stream', (parts.metadata.metadata ?? {}) as Record<string, string>, md5Base64);
      sendJson(res, 200, resource(stored)); return;
    }
    if (kind === 'resumable' && req.method === 'POST') {
      const metadata = JSON.parse(Buffer.concat(await readBody(req)).toString('utf8')) as { name: string; contentType?: string; md5Hash?: string; metadata?: Record<string, string> };
      const id = String(nextSession++);
      sessions.set(id, {
        name: metadata.name,
        contentType: metadata.contentType ?? 'application/octet-stream',
        md5Base64: metadata.md5Hash,
        metadata: metadata.metadata ?? {},
        ifGenerationMatch: query.get('ifGenerationMatch') ?? undefined,
        chunks: [],
        received: 0,
      });
      res.writeHead(200, { location: `${origin}${path}?uploadType=resumable&upload_id=${id}`, 'content-length': 0 }).end();
      return;
    }
  }
  sendError(res, 404, `not served by the benchmark backend: ${req.method ?? ''} ${path}`);
}

/** Concatenates the sources (views, no copies) into `name`; honours ifGenerationMatch on it and each source's generation. */
async function compose(req: IncomingMessage, res: ServerResponse, name: string, query: URLSearchParams): Promise<void> {
  const request = JSON.parse(Buffer.concat(await readBody(req)).toString('utf8')) as {
    sourceObjects: { name: string; generation?: string }[];
    destination?: { contentType?: string; metadata?: Record<string, string> };
  };
  if (request.sourceObjects.length === 0 || request.sourceObjects.length > 32) { sendError(res, 400, 'compose takes 1 to 32 source objects'); return; }
  const chunks: Buffer[] = [];
  let size = 0;
  for (const source of request.sourceObjects) {
    const object = objects.get(source.name);
    if (object === undefined || (source.generation !== undefined && source.generation !== String(object.generation))) { sendError(res, 404, `No such object: bench/${source.name}`); return; }
    chunks.push(...object.chunks);
    size += object.size;
  }
  const failed = precondition(query, objects.get(name));
  if (failed !== undefined) { sendError(res, failed === 304 ? 412 : failed, 'precondition failed'); return; }
  sendJson(res, 200, resource(store(name, chunks, size, request.destination?.contentType ?? 'application/octet-stream', request.destination?.metadata ?? {}, undefined)));
}

async function resumablePut(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
  const session = sessions.get(id);
  if (session === undefined) { sendError(res, 404, 'no such upload session'); return; }
  // "bytes a-b/total", "bytes a-b/*" (size not known yet), "bytes */total" (finalize or status), "bytes */*" (status).
  const range = /^bytes (?:(\d+)-(\d+)|\*)\/(\d+|\*)$/.exec(req.headers['content-range'] ?? '');
  if (range === null) { sendError(res, 400, 'bad Content-Range'); return; }
  const total = range[3] === '*' ? undefined : Number(range[3]);
  if (range[1] !== undefined) {
    if (Number(range[1]) !== session.received) { sendError(res, 400, 'upload offset does not match what was received'); return; }
    for (const chunk of await readBody(req)) {
      session.chunks.push(chunk);
      session.received += chunk.length;
    }
  } else {
    await readBody(req);
  }
  if (total === undefined || session.received < total) {
    res.writeHead(308, session.received > 0 ? { range: `bytes=0-${session.received - 1}`, 'content-length': 0 } : { 'content-length': 0 }).end();
    return;
  }
  sessions.delete(id);
  const md5Base64 = md5Of(session.chunks);
  const declaredMd5 = session.md5Base64 ?? /(?:^|,)\s*md5=([A-Za-z0-9+/=]+)/.exec(String(req.headers['x-goog-hash'] ?? ''))?.[1];
  if (declaredMd5 !== undefined && declaredMd5 !== md5Base64) { sendError(res, 400, 'Provided MD5 hash does not match'); return; }
  const current = objects.get(session.name);
  if (session.ifGenerationMatch !== undefined && String(current?.generation ?? 0) !== session.ifGenerationMatch) { sendError(res, 412, 'precondition failed'); return; }
  sendJson(res, 200, resource(store(session.name, session.chunks, session.received, session.contentType, session.metadata, md5Base64)));
}

const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  handle(req, res, origin).catch((error: unknown) => {
    if (!res.headersSent) sendError(res, 500, String(error));
    else res.destroy();
  });
});
let origin = '';
server.listen(Number(values.port), '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  origin = `http://127.0.0.1:${address.port}`;
  process.stdout.write(`${JSON.stringify({ origin })}\n`);
});
process.on('SIGTERM', () => { server.close(); process.exit(0); });
