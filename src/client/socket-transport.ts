/**
 * HTTP/1.1 to the connector over its Unix socket: kept-alive connections (or one per
 * request), and a deadline on waiting: a request fails with ETIMEDOUT when no bytes
 * move for `timeoutMs`, however long the whole transfer takes.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Agent, request } from '../node-http.ts';

export interface TransportOptions {
  readonly socketPath: string;
  readonly timeoutMs: number;
  readonly keepAlive: boolean;
}

export interface Exchange {
  readonly method: string;
  /** Path and query, already percent-encoded. */
  readonly path: string;
  readonly headers?: OutgoingHttpHeaders;
  /** A body with a known length: a Buffer, or a stream whose length is in the headers. */
  readonly body?: Buffer | Readable;
}

/** Bodies larger than this ask `Expect: 100-continue` first. */
const CONTINUE_THRESHOLD = 64 * 1024;

export class SocketTransport {
  readonly socketPath: string;
  readonly #timeoutMs: number;
  readonly #agent: Agent | false;

  constructor(options: TransportOptions) {
    this.socketPath = options.socketPath;
    this.#timeoutMs = options.timeoutMs;
    this.#agent = options.keepAlive ? new Agent({ keepAlive: true, maxSockets: 64 }) : false;
  }

  /** Sends a request; resolves with the response once its headers have arrived. */
  send(exchange: Exchange): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const body = exchange.body;
      // A large body waits for the connector's 100 Continue: if it refuses the upload
      // (too large, bad key) the answer arrives before any of the body is sent.
      const waitForContinue = body !== undefined && (!Buffer.isBuffer(body) || body.length > CONTINUE_THRESHOLD);
      const headers = waitForContinue ? { ...exchange.headers, expect: '100-continue' } : exchange.headers;
      let bodySent = false;
      const sendBody = (): void => {
        if (bodySent) return;
        bodySent = true;
        if (body === undefined || Buffer.isBuffer(body)) {
          req.end(body);
          return;
        }
        body.on('error', (error) => req.destroy(error));
        body.pipe(req);
      };
      const req = request({
        socketPath: this.socketPath,
        path: exchange.path,
        method: exchange.method,
        headers,
        agent: this.#agent,
        timeout: this.#timeoutMs,
      }, (response) => {
        if (!bodySent) {
          // Answered without asking for the body: the connection is not reusable.
          bodySent = true;
          response.on('end', () => req.destroy());
          if (body !== undefined && !Buffer.isBuffer(body)) body.destroy();
        }
        resolve(response);
      });
      req.on('timeout', () => {
        req.destroy(Object.assign(new Error(`the connector sent nothing for ${this.#timeoutMs} ms`), { code: 'ETIMEDOUT' }));
      });
      req.on('error', reject);
      if (waitForContinue) req.on('continue', sendBody);
      else sendBody();
    });
  }

  /** Closes kept-alive connections. */
  close(): void {
    if (this.#agent !== false) this.#agent.destroy();
  }
}
