/**
 * A loopback HTTP proxy in front of the emulator that injects faults on chosen requests:
 * answer a status without forwarding, forward but lose the answer, or stall. Everything
 * else is forwarded untouched. It shows what fake-gcs-server cannot: GCS refusing
 * credentials, rate limits, 5xx, stalls, and answers lost after a write landed.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
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
  close(): Promise<void>;
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const rules: Rule[] = [];
  const seen: string[] = [];
  const sockets = new Set<Socket>();

  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const rule = rules.find((candidate) => candidate.remaining > 0 && candidate.matches(req));
    if (rule !== undefined) rule.remaining -= 1;
    const fault = rule?.fault;

    if (fault?.kind === 'stall') return;
    if (fault?.kind === 'status') {
      req.resume();
      const body = JSON.stringify({ error: { code: fault.status, message: `injected HTTP ${fault.status}` } });
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
