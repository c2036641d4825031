/**
 * The HTTP/1.1 server of the wire protocol: routes each request, answers errors through
 * the status table, and counts every request. Listening and shutdown are in
 * socket-listener.ts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ConflictError } from '../errors.ts';
import { drainRequest } from './drain-request.ts';
import { asConnectorError, sendError } from './error-response.ts';
import type { RouteContext } from './route-context.ts';
import { route, type Route } from './router.ts';

/** Largest request head (request line and headers) accepted. */
const MAX_HEADER_BYTES = 16 * 1024;

/** The server of the protocol; `router` narrows it (the ops port serves only health and metrics). */
export function createProtocolServer(ctx: RouteContext, router: (req: IncomingMessage) => Route = route): Server {
  const server = createServer(
    {
      maxHeaderSize: MAX_HEADER_BYTES,
      // Uploads may take long on a busy node; a stalled client is cut by the socket
      // timeout below instead of a total.
      requestTimeout: 0,
      headersTimeout: 60_000,
      keepAliveTimeout: 5_000,
    },
    (req, res) => { void serve(req, res, ctx, router); },
  );
  server.timeout = 120_000;
  // With this listener Node leaves `Expect: 100-continue` to the routes (acceptBody), which
  // answer only after checking the head: a refused upload never sends its body.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => { void serve(req, res, ctx, router); });
  server.on('clientError', (error: Error & { code?: string }, socket: Socket) => {
    answerMalformed(error, socket);
  });
  return server;
}

async function serve(req: IncomingMessage, res: ServerResponse, ctx: RouteContext, router: (req: IncomingMessage) => Route): Promise<void> {
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
  try {
    await handle(req, res, ctx);
  } catch (thrown) {
    const error = asConnectorError(thrown);
    if (error.code === 'internal_error') ctx.logger.error('internal error', { op, error: thrown });
    ctx.metrics.errors.inc({ code: error.code });
    if (error instanceof ConflictError) ctx.metrics.conflicts.inc({ reason: error.reason });
    // A small unread body is read first so the answer arrives; a large one closes the connection.
    sendError(req, res, error, !(await drainRequest(req)));
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
