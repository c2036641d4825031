/**
 * HTTP to the GCS JSON API: one keep-alive agent (node:https, or node:http for an
 * emulator), the credentials' Authorization header on every request, and failures turned
 * into store errors (gcs-errors.ts). Knows nothing of objects or retries;
 * gcs-calls.ts composes calls from it.
 *
 * Node's own HTTP client rather than undici: undici's import alone costs the process a
 * large share of the pod's memory request for a few microseconds less CPU per request
 * (README, "Dependencies, and why each", has the measurement).
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { Agent as HttpAgent, request as httpRequest } from '../../node-http.ts';
import type { Credentials } from './credentials.ts';
import { errorFromStatus, errorFromTransport, gcsErrorDetails, type GcsCallContext } from './gcs-errors.ts';
import type { GcsObserver } from './gcs-observer.ts';
import { readToEnd } from '../../read-to-end.ts';
import { StoreError } from '../store-error.ts';

export interface GcsCall {
  /** Operation name for metrics (`read`, `stat`, `write`, ...). */
  readonly op: string;
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path and query on the API origin. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** A list of buffers is written in order, uncopied (the caller sets content-length). */
  readonly body?: Buffer | readonly Buffer[] | string | null;
  /** Aborts the request; the caller owns its timing. */
  readonly signal: AbortSignal;
  readonly context: GcsCallContext;
}

/**
 * The longest JSON answer read from GCS. Object resources and errors are a few KiB; a
 * listing page of 1,000 names of 1,024 bytes with only the fields asked for is about
 * 1 MiB. A longer answer (a backend that ignores `fields`) is cut, not held.
 */
export const MAX_JSON_ANSWER_BYTES = 1024 * 1024;

/** A JSON answer was longer than MAX_JSON_ANSWER_BYTES; its body was dropped. */
export class AnswerTooLargeError extends Error {
  constructor(what: string) {
    super(`GCS answered more than ${MAX_JSON_ANSWER_BYTES} bytes of JSON for ${what}`);
    this.name = 'AnswerTooLargeError';
  }
}

/** GCS's answer: status and headers, and the body still to read (stream it, or use the helpers). */
export interface GcsAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Readable;
  text(): Promise<string>;
  json(): Promise<unknown>;
  /** Reads and discards the body, so the connection can be reused. */
  dump(): Promise<void>;
}

export interface GcsHttpOptions {
  /** API origin: `https://storage.googleapis.com` or an emulator's. */
  readonly origin: string;
  readonly credentials: Credentials;
  /** Longest wait for the connection, for response headers, and between body bytes. */
  readonly timeoutMs: number;
  /** Upper bound of open connections to GCS. */
  readonly connections: number;
  /** Told of every request's outcome and its seconds until the answer headers, and (through gcs-calls.ts) of every retry. */
  readonly observer: GcsObserver;
}

export class GcsHttp {
  readonly origin: string;
  /** Told of every request's outcome here, and of every retry by the calls built on this client. */
  readonly observer: GcsObserver;
  readonly #options: GcsHttpOptions;
  readonly #agent: HttpAgent;
  readonly #request: typeof httpRequest;
  readonly #host: string;
  readonly #port: number;

  constructor(options: GcsHttpOptions) {
    this.origin = options.origin;
    this.observer = options.observer;
    this.#options = options;
    const url = new URL(options.origin);
    const secure = url.protocol === 'https:';
    const agentOptions = { keepAlive: true, maxSockets: options.connections, maxFreeSockets: 16, scheduling: 'lifo' as const };
    this.#agent = secure ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    this.#request = secure ? httpsRequest : httpRequest;
    this.#host = url.hostname;
    this.#port = Number(url.port || (secure ? 443 : 80));
  }

  /** Sends a request and answers whatever status GCS gave; transport failures throw. */
  async send(call: GcsCall): Promise<GcsAnswer> {
    const headers: Record<string, string> = { ...call.headers };
    const authorization = await this.#options.credentials.authorization();
    if (authorization !== undefined) headers.authorization = authorization;
    const started = performance.now();
    try {
      const response = await this.#exchange(call, headers);
      if (response.statusCode === 401 && authorization !== undefined) this.#options.credentials.refused(authorization);
      this.observer.answered(call.op, String(response.statusCode), (performance.now() - started) / 1000);
      return answerOf(response, call);
    } catch (error) {
      const mapped = errorFromTransport(error, call.context);
      this.observer.answered(call.op, mapped.kind, (performance.now() - started) / 1000);
      throw mapped;
    }
  }

  /** Sends a request that answers JSON; a status outside `ok` throws the mapped error. */
  async json<T>(call: GcsCall, ok: readonly number[] = [200]): Promise<T> {
    const answer = await this.send(call);
    const text = await answer.text();
    if (!ok.includes(answer.status)) throw errorFromStatus(answer.status, gcsErrorDetails(text), call.context);
    return (text === '' ? {} : JSON.parse(text)) as T;
  }

  /** Throws the error a non-success answer means, after draining its body. */
  async fail(answer: GcsAnswer, call: GcsCall): Promise<never> {
    throw errorFromStatus(answer.status, gcsErrorDetails(await answer.text()), call.context);
  }

  close(): Promise<void> {
    this.#agent.destroy();
    return Promise.resolve();
  }

  #exchange(call: GcsCall, headers: Record<string, string>): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const body = call.body ?? undefined;
      if (typeof body === 'string' || Buffer.isBuffer(body)) headers['content-length'] ??= String(Buffer.byteLength(body));
      const req = this.#request({
        host: this.#host,
        port: this.#port,
        path: call.path,
        method: call.method,
        headers,
        agent: this.#agent,
        signal: call.signal,
        timeout: this.#options.timeoutMs,
      }, resolve);
      req.on('timeout', () => {
        req.destroy(Object.assign(new Error(`no bytes for ${this.#options.timeoutMs} ms`), { code: 'ETIMEDOUT' }));
      });
      req.on('error', (error) => {
        // An abort by the caller's deadline carries the store error as its reason.
        const reason: unknown = call.signal.reason;
        reject(call.signal.aborted && reason instanceof StoreError ? reason : error);
      });
      if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
        req.end(body);
        return;
      }
      for (const chunk of body) req.write(chunk);
      req.end();
    });
  }
}

function answerOf(response: IncomingMessage, call: GcsCall): GcsAnswer {
  const text = async (): Promise<string> => {
    let bytes: Buffer | undefined;
    try {
      bytes = await readToEnd(response, MAX_JSON_ANSWER_BYTES);
    } catch (error) {
      throw errorFromTransport(error, call.context);
    }
    if (bytes === undefined) throw new AnswerTooLargeError(call.context.target);
    return bytes.toString('utf8');
  };
  const dump = async (): Promise<void> => {
    try {
      await finished(response.resume());
    } catch (error) {
      throw errorFromTransport(error, call.context);
    }
  };
  return {
    status: response.statusCode ?? 0,
    headers: response.headers,
    body: response,
    text,
    json: async () => JSON.parse(await text()) as unknown,
    dump,
  };
}
