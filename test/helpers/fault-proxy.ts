/**
 * A loopback HTTP proxy in front of the emulator that injects faults on chosen requests:
 * answer a status without forwarding, reset the connection, forward but lose the answer,
 * stall, break or stall a download's body part-way, or fail an upload chunk part-way (the
 * storage-testbench instructions of Google's retry conformance tests). Everything else is
 * forwarded untouched. It shows what fake-gcs-server cannot: GCS refusing credentials,
 * rate limits, 5xx, stalls, broken streams, and answers lost after a write landed.
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
  /** Reset the connection before the request reaches the emulator (the testbench's `return-reset-connection`). */
  | { readonly kind: 'reset' }
  /** Forward, let the emulator act, then cut the connection instead of answering. */
  | { readonly kind: 'lose-answer' }
  /** Accept the request and never answer. */
  | { readonly kind: 'stall' }
  /** Forward, then cut the connection after `bytes` of the answer's body (`return-broken-stream-after-NK`). */
  | { readonly kind: 'break-body'; readonly bytes: number }
  /** Forward, then stop sending after `bytes` of the answer's body, holding the connection open (`stall-for-Ts-after-NK`). */
  | { readonly kind: 'stall-body'; readonly bytes: number }
  /**
   * A resumable-upload PUT whose range holds upload byte `offset`: the bytes before it reach
   * the emulator (so the session holds them, as GCS would), then `status` is answered and
   * the connection closed (`return-503-after-NK`). Match it with `coversUploadOffset`.
   */
  | { readonly kind: 'fail-upload-at'; readonly offset: number; readonly status: number };

interface Rule {
  readonly matches: (req: IncomingMessage) => boolean;
  readonly fault: Fault;
  remaining: number;
}

export interface FaultProxy {
  readonly origin: string;
  /** Applies `fault` to the next `times` requests for which `matches` is true. */
  inject(matches: (req: IncomingMessage) => boolean, fault: Fault, times?: number): void;
  /** Applies each step's fault once, in order: a step waits until the one before it has fired. */
  injectInOrder(steps: readonly { readonly matches: (req: IncomingMessage) => boolean; readonly fault: Fault }[]): void;
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
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'fail-upload-at') {
      failUploadAt(req, res, fault, target, (upstreamRes) => { if (uploadId !== null) trackSession(sessions, uploadId, upstreamRes); });
      return;
    }
    if (fault?.kind === 'status') {
      req.resume();
      answerGcsError(res, fault.status, `injected HTTP ${fault.status}`);
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
      if (fault?.kind === 'break-body' || fault?.kind === 'stall-body') {
        sendPartOfBody(upstreamRes, res, fault.bytes, fault.kind === 'break-body');
        return;
      }
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
    injectInOrder(steps) {
      let previous: Rule | undefined;
      for (const step of steps) {
        const before = previous;
        const rule: Rule = { matches: (req) => (before === undefined || before.remaining === 0) && step.matches(req), fault: step.fault, remaining: 1 };
        rules.push(rule);
        previous = rule;
      }
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

/** Answers `status` with GCS's JSON error body; `sent` runs once it is on the wire. */
function answerGcsError(res: ServerResponse, status: number, message: string, sent?: () => void): void {
  const body = JSON.stringify({ error: { code: status, message, errors: [{ reason: GCS_REASONS[status] ?? 'backendError', message }] } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body, sent);
}

/** True for a resumable-upload PUT whose bytes include upload byte `offset` (or start at it). */
export function coversUploadOffset(offset: number): (req: IncomingMessage) => boolean {
  return (req) => {
    const range = /^bytes (\d+)-(\d+)\//.exec(req.headers['content-range'] ?? '');
    return req.method === 'PUT' && range !== null && Number(range[1]) <= offset && offset <= Number(range[2]);
  };
}

/** Sends the first `limit` bytes of `upstreamRes`, then cuts the connection or holds it open. */
function sendPartOfBody(upstreamRes: IncomingMessage, res: ServerResponse, limit: number, cut: boolean): void {
  let sent = 0;
  upstreamRes.on('data', (chunk: Buffer) => {
    if (sent >= limit) return;
    const piece = chunk.subarray(0, limit - sent);
    sent += piece.length;
    if (sent < limit) {
      res.write(piece);
      return;
    }
    upstreamRes.destroy();
    // Cut once the bytes are on the wire, so the client has them before the break.
    res.write(piece, () => { if (cut) res.socket?.destroy(); });
  });
}

/**
 * Reads a resumable-upload PUT up to upload byte `fault.offset`, hands the bytes before it
 * to the emulator as a chunk of their own (GCS keeps what it received in 256 KiB units),
 * then answers `fault.status` and closes the connection.
 */
function failUploadAt(req: IncomingMessage, res: ServerResponse, fault: { offset: number; status: number }, target: URL, track: (upstreamRes: IncomingMessage) => void): void {
  const start = Number(/^bytes (\d+)-/.exec(req.headers['content-range'] ?? '')?.[1] ?? 0);
  const wanted = fault.offset - start;
  const parts: Buffer[] = [];
  let received = 0;
  let done = false;
  const answer = (): void => {
    res.setHeader('connection', 'close');
    answerGcsError(res, fault.status, `injected HTTP ${fault.status} after upload byte ${fault.offset}`, () => { req.socket.destroy(); });
  };
  const finish = (): void => {
    if (done) return;
    done = true;
    req.pause();
    if (wanted <= 0 || wanted % (256 * 1024) !== 0) {
      answer();
      return;
    }
    const chunk = Buffer.concat(parts).subarray(0, wanted);
    const forward = httpRequest({
      host: target.hostname,
      port: target.port,
      method: 'PUT',
      path: req.url,
      headers: { 'content-length': String(chunk.length), 'content-range': `bytes ${start}-${fault.offset - 1}/*` },
    }, (upstreamRes) => {
      track(upstreamRes);
      upstreamRes.resume();
      upstreamRes.on('end', answer);
    });
    forward.on('error', () => { res.destroy(); });
    forward.end(chunk);
  };
  req.on('data', (chunk: Buffer) => {
    if (done) return;
    parts.push(chunk);
    received += chunk.length;
    if (received >= wanted) finish();
  });
  req.on('end', finish);
}
