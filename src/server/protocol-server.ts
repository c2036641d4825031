/**
 * The HTTP/1.1 server of the wire protocol: admits connections through the gate, serves
 * the requests of one connection one at a time in the order they came, routes each,
 * answers errors through the status table, and counts every request. Listening and
 * shutdown are in socket-listener.ts.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from '../node-http.ts';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ConflictError } from '../errors.ts';
import { ConnectionGate } from './connection-gate.ts';
import { drainRequest } from './drain-request.ts';
import { FailureLog } from './failure-log.ts';
import { asConnectorError, sendError } from './error-response.ts';
import type { RouteContext } from './route-context.ts';
import { route, type Route } from './router.ts';

/** Largest request head (request line and headers) accepted. */
const MAX_HEADER_BYTES = 16 * 1024;

/** How long a listener waits for a client: the Unix socket is patient with slow uploads, the ops port is not. */
export interface ListenerTimeouts {
  /** Longest wait for a request head. */
  readonly headersMs: number;
  /** Longest whole request (0: none; a body's speed is bounded by the body rate instead). */
  readonly requestMs: number;
  /** Idle keep-alive connection. */
  readonly keepAliveMs: number;
  /** No bytes either way on a connection. */
  readonly idleMs: number;
}

export interface ListenerOptions {
  /** `socket` or `ops`, for metrics and messages. */
  readonly listener: string;
  readonly maxConnections: number;
  /** The listener as refusals name it: "the socket", "the ops port". */
  readonly listenerName: string;
  readonly timeouts: ListenerTimeouts;
  /** Narrows the routes (the ops port serves only health and metrics). */
  readonly router?: (req: IncomingMessage) => Route;
  /** At the cap, close the oldest idle connection rather than refuse a new one (the ops port). */
  readonly makesRoomFromIdle?: boolean;
}

export const SOCKET_TIMEOUTS: ListenerTimeouts = { headersMs: 60_000, requestMs: 0, keepAliveMs: 5_000, idleMs: 120_000 };
export const OPS_TIMEOUTS: ListenerTimeouts = { headersMs: 5_000, requestMs: 10_000, keepAliveMs: 5_000, idleMs: 10_000 };

/** The server of the protocol on one listener. */
export function createProtocolServer(ctx: RouteContext, options: ListenerOptions): Server {
  const router = options.router ?? route;
  const gate = new ConnectionGate({ ...options, budget: ctx.budget, metrics: ctx.metrics });
  const failures = new FailureLog(ctx.logger);
  const order = new RequestOrder();
  const admit = (req: IncomingMessage, res: ServerResponse): void => {
    order.enqueue(req, res, () => serve(req, res, ctx, router, gate, failures));
  };
  const server = createServer(
    {
      maxHeaderSize: MAX_HEADER_BYTES,
      requestTimeout: options.timeouts.requestMs,
      headersTimeout: options.timeouts.headersMs,
      keepAliveTimeout: options.timeouts.keepAliveMs,
      // Node checks the two timeouts above only this often.
      connectionsCheckingInterval: Math.min(30_000, Math.ceil(options.timeouts.headersMs / 2)),
    },
    admit,
  );
  server.timeout = options.timeouts.idleMs;
  gate.attach(server);
  // With this listener Node leaves `Expect: 100-continue` to the routes (acceptBody), which
  // answer only after checking the head: a refused upload never sends its body.
  server.on('checkContinue', admit);
  server.on('clientError', (error: Error & { code?: string }, socket: Socket) => {
    // A malformed request after a valid one is answered after that one's answer, never over it.
    order.afterPending(socket, () => { answerMalformed(error, socket); });
  });
  return server;
}

/**
 * One request at a time per connection. Node parses pipelined requests as they arrive
 * and would run their handlers at once, so a PUT then a DELETE sent together could land
 * in either order; here each waits for the answer before it to finish. Only a request
 * that finds the one before it still unanswered waits (one listener on that answer):
 * the usual request pays for a map entry, nothing more.
 */
class RequestOrder {
  readonly #last = new WeakMap<Socket, { readonly req: IncomingMessage; readonly res: ServerResponse }>();

  enqueue(req: IncomingMessage, res: ServerResponse, run: () => Promise<void>): void {
    const socket = req.socket;
    const previous = this.#last.get(socket);
    this.#last.set(socket, { req, res });
    if (previous === undefined || previous.res.closed) {
      void run();
      return;
    }
    previous.res.once('close', () => {
      if (!socket.destroyed) void run();
    });
  }

  /**
   * Runs `run` once the last request's answer is out, or at once when the parse error is
   * in that request's own body (it can never complete, and its answer is this one).
   */
  afterPending(socket: Socket, run: () => void): void {
    const previous = this.#last.get(socket);
    if (previous === undefined || previous.res.closed || !previous.req.complete) run();
    else previous.res.once('close', run);
  }
}

async function serve(req: IncomingMessage, res: ServerResponse, ctx: RouteContext, router: (req: IncomingMessage) => Route, gate: ConnectionGate, failures: FailureLog): Promise<void> {
  const started = performance.now();
  const { op, handle } = router(req);
  ctx.metrics.inFlight += 1;
  res.once('close', () => {
    ctx.metrics.inFlight -= 1;
    const seconds = (performance.now() - started) / 1000;
    const status = res.writableFinished ? String(res.statusCode) : 'aborted';
    ctx.metrics.requests.inc({ op, status });
    ctx.metrics.requestSeconds.observe({ op }, seconds);
    ctx.logger.debug('request', { op, method: req.method, status, ms: Math.round(seconds * 1000) });
  });
  const refusal = gate.refusal(req.socket);
  try {
    if (refusal !== undefined) throw refusal;
    await handle(req, res, ctx);
  } catch (thrown) {
    const error = asConnectorError(thrown);
    ctx.metrics.errors.inc({ code: error.code });
    if (error.code === 'client_aborted') {
      ctx.logger.debug('the client left before its answer', { op, message: error.message });
      res.destroy();
      return;
    }
    failures.note({ op, method: req.method, path: (req.url ?? '/').split('?', 1)[0] ?? '/', error, thrown, ms: Math.round(performance.now() - started) });
    if (error instanceof ConflictError) ctx.metrics.conflicts.inc({ reason: error.reason });
    // A small unread body is read first so the answer arrives; a large one closes the connection.
    sendError(req, res, error, refusal !== undefined || !(await drainRequest(req)));
  }
}

/** Answers a request the HTTP parser refused (bad chunking, huge headers) with JSON, then closes. */
function answerMalformed(error: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable || error.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
  const status = tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
  const body = JSON.stringify({
    error: 'bad_request',
    message: tooLarge ? `request headers are over ${MAX_HEADER_BYTES} bytes` : `malformed HTTP request (${error.code ?? error.message})`,
  });
  socket.end(`HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}
