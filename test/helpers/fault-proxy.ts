/**
 * A loopback HTTP proxy in front of the emulator that injects faults on chosen requests:
 * answer a status without forwarding, forward but lose the answer, or stall. Everything
 * else is forwarded untouched. It shows what fake-gcs-server cannot: GCS refusing
 * credentials, rate limits, 5xx, stalls, and answers lost after a write landed.
 *
 * It also answers resumable-upload status queries (`PUT` of no bytes with
 * `Content-Range: bytes *\/N` or `bytes *\/*`) as GCS does, from the 308 and 200 answers
 * it forwarded: fake-gcs-server v1.56 finalizes the object on any such query, whatever it
 * holds, so a resumed upload could not be tested against it directly.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export type Fault =
  | { readonly kind: 'status'; readonly status: number }
  /** Forward, let the emulator act, then cut the connection instead of answering. */
  | { readonly kind: 'lose-answer' }
  /** Accept the request and never answer. */
  | { readonly kind: 'stall' };

interface Rule {
  readonly matches: (req: IncomingMessage) => boolean;
  readonly fault: Fault;
  remaining: number;
}

export interface FaultProxy {
  readonly origin: string;
  /** Applies `fault` to the next `times` requests for which `matches` is true. */
  inject(matches: (req: IncomingMessage) => boolean, fault: Fault, times?: number): void;
  clear(): void;
  /** Requests seen, as "METHOD path". */
  readonly seen: string[];
  /** The same requests with their headers. */
  readonly seenRequests: { readonly method: string; readonly url: string; readonly headers: IncomingMessage['headers'] }[];
  /** Status queries the proxy answered itself, as GCS would have. */
  readonly statusQueries: number;
  close(): Promise<void>;
}

/** The `reason` GCS gives with a status (its JSON API error format). */
const GCS_REASONS: Readonly<Record<number, string>> = { 401: 'required', 403: 'forbidden', 404: 'notFound', 412: 'conditionNotMet', 429: 'rateLimitExceeded' };

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const rules: Rule[] = [];
  const seen: string[] = [];
  const seenRequests: FaultProxy['seenRequests'] = [];
  const sockets = new Set<Socket>();
  /** Per upload session: bytes GCS confirmed, and the object once finalized. */
  const sessions = new Map<string, { persisted: number; finalBody?: Buffer }>();
  let statusQueries = 0;

  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    seenRequests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const uploadId = new URL(req.url ?? '/', 'http://x').searchParams.get('upload_id');
    if (uploadId !== null && req.method === 'PUT' && answerStatusQuery(req, res, sessions.get(uploadId) ?? { persisted: 0 })) {
      statusQueries += 1;
      return;
    }
    const rule = rules.find((candidate) => candidate.remaining > 0 && candidate.matches(req));
    if (rule !== undefined) rule.remaining -= 1;
    const fault = rule?.fault;

    if (fault?.kind === 'stall') return;
    if (fault?.kind === 'status') {
      req.resume();
      const message = `injected HTTP ${fault.status}`;
      const body = JSON.stringify({ error: { code: fault.status, message, errors: [{ reason: GCS_REASONS[fault.status] ?? 'backendError', message }] } });
      res.writeHead(fault.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const forward = httpRequest({
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
    }, (upstreamRes) => {
      if (uploadId !== null) trackSession(sessions, uploadId, upstreamRes);
      if (fault?.kind === 'lose-answer') {
        upstreamRes.resume();
        upstreamRes.on('end', () => { req.socket.destroy(); });
        return;
      }
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
      upstreamRes.pipe(res);
    });
    forward.on('error', () => { res.destroy(); });
    req.pipe(forward);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;

  return {
    origin: `http://127.0.0.1:${port}`,
    seen,
    seenRequests,
    get statusQueries() { return statusQueries; },
    inject(matches, fault, times = 1) {
      rules.push({ matches, fault, remaining: times });
    },
    clear() {
      rules.length = 0;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    },
  };
}

/** Answers a status query the way GCS does; false when `req` is not one (or finalizes), to be forwarded. */
function answerStatusQuery(req: IncomingMessage, res: ServerResponse, session: { persisted: number; finalBody?: Buffer }): boolean {
  const total = /^bytes \*\/(\d+|\*)$/.exec(req.headers['content-range'] ?? '')?.[1];
  if (total === undefined || req.headers['content-length'] !== '0') return false;
  if (session.finalBody !== undefined) {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': session.finalBody.length }).end(session.finalBody);
    return true;
  }
  // Everything is there: this query finalizes, which the emulator does right.
  if (total !== '*' && session.persisted >= Number(total)) return false;
  req.resume();
  res.writeHead(308, session.persisted > 0 ? { range: `bytes=0-${session.persisted - 1}`, 'content-length': 0 } : { 'content-length': 0 }).end();
  return true;
}

/** Notes what the emulator confirmed for an upload session: a 308's range, or the finalized object. */
function trackSession(sessions: Map<string, { persisted: number; finalBody?: Buffer }>, uploadId: string, upstreamRes: IncomingMessage): void {
  const session = sessions.get(uploadId) ?? { persisted: 0 };
  sessions.set(uploadId, session);
  if (upstreamRes.statusCode === 308) {
    const end = /^bytes=0-(\d+)$/.exec(upstreamRes.headers.range ?? '')?.[1];
    if (end !== undefined) session.persisted = Number(end) + 1;
    return;
  }
  if (upstreamRes.statusCode === 200 || upstreamRes.statusCode === 201) {
    const parts: Buffer[] = [];
    upstreamRes.on('data', (chunk: Buffer) => { parts.push(chunk); });
    upstreamRes.on('end', () => { session.finalBody = Buffer.concat(parts); });
  }
}
