/**
 * HTTP over the connector's Unix socket, as the runtimes send it: by default one new
 * connection per request (the Python runtime's way), or through a keep-alive agent.
 */
import { request as httpRequest, type Agent, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The body parsed as JSON (throws if it is not). */
  json<T = Record<string, unknown>>(): T;
  text(): string;
}

export interface RequestOptions {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer | AsyncIterable<Buffer>;
  /** Send the body with Transfer-Encoding: chunked. */
  readonly chunked?: boolean;
  /** Reuse connections through this agent instead of one connection per request. */
  readonly agent?: Agent;
}

export async function request(socketPath: string, path: string, options: RequestOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    const body = options.body;
    if (typeof body === 'string' || Buffer.isBuffer(body)) {
      if (options.chunked === true) headers['transfer-encoding'] = 'chunked';
      else headers['content-length'] = String(Buffer.byteLength(body));
    }
    const req = httpRequest({
      socketPath,
      path,
      method: options.method ?? 'GET',
      headers,
      agent: options.agent ?? false,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const buffer = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: buffer,
          json: <T>() => JSON.parse(buffer.toString('utf8')) as T,
          text: () => buffer.toString('utf8'),
        });
      });
    });
    req.on('error', reject);
    if (body === undefined) req.end();
    else if (typeof body === 'string' || Buffer.isBuffer(body)) {
      if (options.chunked === true) {
        // Several chunks, as a streaming client sends them.
        const buffer = Buffer.from(body);
        const step = Math.max(1, Math.ceil(buffer.length / 3));
        for (let i = 0; i < buffer.length; i += step) req.write(buffer.subarray(i, i + step));
        req.end();
      } else req.end(body);
    } else {
      void (async () => {
        for await (const chunk of body) {
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        }
        req.end();
      })().catch(reject);
    }
  });
}

/** Sends a PUT slowly (in pieces), resolving with the status or the error when the connection dies. */
export function slowPut(socketPath: string, key: string, body: Buffer, pieces: number, pauseMs: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpRequest({ socketPath, path: `/keys/${key}`, method: 'PUT', headers: { 'content-length': String(body.length) }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => { resolve(res.statusCode ?? 0); });
    });
    req.on('error', (error) => { resolve(error.message); });
    void (async () => {
      const step = Math.ceil(body.length / pieces);
      for (let offset = 0; offset < body.length; offset += step) {
        if (req.destroyed) return;
        req.write(body.subarray(offset, offset + step));
        await sleep(pauseMs);
      }
      req.end();
    })();
  });
}

/**
 * Sends raw bytes on a fresh connection and answers everything the server sent back
 * until it closed the connection (or `waitMs` passed).
 */
export async function rawExchange(socketPath: string, bytes: string | Buffer, options: { endAfterWrite?: boolean; waitMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => { socket.destroy(); resolve(Buffer.concat(chunks).toString('latin1')); }, options.waitMs ?? 2_000);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error) => {
      clearTimeout(timer);
      if ((error as NodeJS.ErrnoException).code === 'ECONNRESET' || (error as NodeJS.ErrnoException).code === 'EPIPE') {
        resolve(Buffer.concat(chunks).toString('latin1'));
      } else reject(error);
    });
    socket.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks).toString('latin1')); });
    socket.write(bytes);
    if (options.endAfterWrite === true) socket.end();
  });
}

/** The status, lower-cased head and body of a raw HTTP/1.1 answer; undefined when there is none. */
export function parseRawAnswer(raw: string): { status: number; headers: string; body: string } | undefined {
  const match = /^HTTP\/1\.1 (\d{3}) /.exec(raw);
  if (match === null) return undefined;
  const split = raw.indexOf('\r\n\r\n');
  return { status: Number(match[1]), headers: raw.slice(0, split).toLowerCase(), body: raw.slice(split + 4) };
}

/** Reads a counter or gauge from the connector's /metrics (sum over series matching `labels`). */
export async function metricValue(socketPath: string, name: string, labels: Readonly<Record<string, string>> = {}): Promise<number> {
  const text = (await request(socketPath, '/metrics')).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const matches = Object.entries(labels).every(([label, value]) => line.includes(`${label}="${value}"`));
    if (matches) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** A PUT on a raw socket whose body the test sends piece by piece, when it chooses. */
export interface RawPut {
  /** Writes body pieces. */
  send(pieces: readonly Buffer[]): void;
  /** What the connector answered so far, as latin1 text. */
  answer(): string;
  /** Settles when the connection closed. */
  readonly closed: Promise<unknown>;
  /** Cuts the connection (a client that stops). */
  destroy(): void;
}

/** Opens a connection and sends the head of a `size`-byte PUT of `key`, with `headers` (CRLF-terminated lines) and `Connection: close`. */
export async function openRawPut(socketPath: string, key: string, size: number, headers = ''): Promise<RawPut> {
  const socket = connect(socketPath);
  let answer = '';
  socket.on('data', (piece: Buffer) => { answer += piece.toString('latin1'); });
  const closed = new Promise((resolve) => socket.once('close', resolve));
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  socket.write(`PUT /keys/${key} HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n${headers}Connection: close\r\n\r\n`);
  return {
    send: (pieces) => { for (const piece of pieces) socket.write(piece); },
    answer: () => answer,
    closed,
    destroy: () => { socket.destroy(); },
  };
}
