/**
 * HTTP to the GCS JSON API: one keep-alive undici pool, the credentials' Authorization
 * header on every request, and failures turned into connector errors (gcs-errors.ts).
 * Knows nothing of objects or retries; gcs-store.ts composes calls from it.
 */
import type { Readable } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import type { Credentials } from './credentials.ts';
import { errorFromStatus, errorFromTransport, gcsErrorMessage, type GcsCallContext } from './gcs-errors.ts';

export interface GcsCall {
  /** Operation name for metrics (`read`, `stat`, `write`, ...). */
  readonly op: string;
  readonly method: Dispatcher.HttpMethod;
  /** Path and query on the API origin. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer | string | Readable | null;
  /** Aborts the request; the caller owns its timing. */
  readonly signal: AbortSignal;
  readonly context: GcsCallContext;
}

export interface GcsAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Dispatcher.ResponseData['body'];
}

export interface GcsHttpOptions {
  /** API origin: `https://storage.googleapis.com` or an emulator's. */
  readonly origin: string;
  readonly credentials: Credentials;
  /** Longest wait for response headers once a request is sent, and longest stall of a body. */
  readonly timeoutMs: number;
  /** Upper bound of open connections to GCS. */
  readonly connections: number;
  /** Told of every request's outcome: an HTTP status, or an error code. */
  readonly onOutcome: (op: string, outcome: string) => void;
}

export class GcsHttp {
  readonly origin: string;
  readonly #pool: Pool;
  readonly #options: GcsHttpOptions;

  constructor(options: GcsHttpOptions) {
    this.origin = options.origin;
    this.#options = options;
    this.#pool = new Pool(options.origin, {
      connections: options.connections,
      keepAliveTimeout: 30_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connect: { timeout: Math.min(options.timeoutMs, 10_000) },
    });
  }

  /** Sends a request and answers whatever status GCS gave; transport failures throw. */
  async send(call: GcsCall): Promise<GcsAnswer> {
    const headers: Record<string, string> = { ...call.headers };
    const authorization = await this.#options.credentials.authorization();
    if (authorization !== undefined) headers.authorization = authorization;
    try {
      const answer = await this.#pool.request({
        method: call.method,
        path: call.path,
        headers,
        body: call.body ?? null,
        signal: call.signal,
      });
      this.#options.onOutcome(call.op, String(answer.statusCode));
      return { status: answer.statusCode, headers: answer.headers, body: answer.body };
    } catch (error) {
      const mapped = errorFromTransport(error, call.context);
      this.#options.onOutcome(call.op, mapped.code);
      throw mapped;
    }
  }

  /** Sends a request that answers JSON; a status outside `ok` throws the mapped error. */
  async json<T>(call: GcsCall, ok: readonly number[] = [200]): Promise<T> {
    const answer = await this.send(call);
    const text = await readText(answer, call);
    if (!ok.includes(answer.status)) throw errorFromStatus(answer.status, gcsErrorMessage(text), call.context);
    return (text === '' ? {} : JSON.parse(text)) as T;
  }

  /** Throws the error a non-success answer means, after draining its body. */
  async fail(answer: GcsAnswer, call: GcsCall): Promise<never> {
    throw errorFromStatus(answer.status, gcsErrorMessage(await readText(answer, call)), call.context);
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}

async function readText(answer: GcsAnswer, call: GcsCall): Promise<string> {
  try {
    return await answer.body.text();
  } catch (error) {
    throw errorFromTransport(error, call.context);
  }
}
