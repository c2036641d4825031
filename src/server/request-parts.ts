/**
 * Reading the parts of a request the routes need, with the protocol's refusals: the
 * query string, precondition headers, and small JSON bodies.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BadRequestError, TooLargeError } from '../errors.ts';
import { decodeComponent } from '../keys.ts';
import type { Precondition } from '../state/state-service.ts';
import { readToEnd } from '../read-to-end.ts';

/** Splits a raw query string into decoded values; a repeated name is refused. */
export function parseQuery(rawQuery: string): ReadonlyMap<string, string> {
  const values = new Map<string, string>();
  if (rawQuery === '') return values;
  for (const pair of rawQuery.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decodeComponent(eq < 0 ? pair : pair.slice(0, eq), 'a query parameter name');
    const value = eq < 0 ? '' : decodeComponent(pair.slice(eq + 1), `query parameter "${name}"`);
    if (values.has(name)) throw new BadRequestError(`query parameter "${name}" is given more than once`);
    values.set(name, value);
  }
  return values;
}

/** Refuses query parameters a route does not know, naming the ones it does. */
export function allowOnly(query: ReadonlyMap<string, string>, allowed: readonly string[], route: string): void {
  for (const name of query.keys()) {
    if (!allowed.includes(name)) {
      throw new BadRequestError(`unknown query parameter "${name}" for ${route}${allowed.length > 0 ? `; allowed: ${allowed.join(', ')}` : ''}`);
    }
  }
}

/** An ETag as the connector gives it: a generation in quotes. */
const GENERATION = /^"(\d{1,19})"$/;

function singleHeader(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  if (Array.isArray(value)) throw new BadRequestError(`${name} is given more than once`);
  return value?.trim();
}

/** The generation named by an `If-Match` header, if present. */
export function ifMatchGeneration(req: IncomingMessage): string | undefined {
  const value = singleHeader(req, 'if-match');
  if (value === undefined) return undefined;
  const generation = GENERATION.exec(value)?.[1];
  if (generation === undefined) {
    throw new BadRequestError(`If-Match must be one generation in quotes, as the ETag gives it (e.g. "1712345678901234"), got ${JSON.stringify(value.slice(0, 64))}`);
  }
  return generation;
}

/** The precondition a PUT carries: If-None-Match: * or If-Match: "<generation>". */
export function writePrecondition(req: IncomingMessage): Precondition {
  const noneMatch = singleHeader(req, 'if-none-match');
  const generation = ifMatchGeneration(req);
  if (noneMatch !== undefined) {
    if (noneMatch !== '*') throw new BadRequestError(`If-None-Match supports only "*" (create only if absent), got ${JSON.stringify(noneMatch.slice(0, 64))}`);
    if (generation !== undefined) throw new BadRequestError('If-Match and If-None-Match cannot be combined');
    return { kind: 'absent' };
  }
  return generation === undefined ? { kind: 'none' } : { kind: 'generation', generation };
}

/**
 * Tells a client that sent `Expect: 100-continue` to send its body. Called once the
 * request head has passed every check, so a refused upload (bad key, too large) is
 * answered before a byte of its body travels, and the connection stays usable.
 */
export function acceptBody(req: IncomingMessage, res: ServerResponse): void {
  if (/^100-continue$/i.test(req.headers.expect?.trim() ?? '')) res.writeContinue();
}

/**
 * Refuses a body sent with a transfer coding other than plain `chunked`: Node's parser
 * passes `gzip, chunked` through undecoded, and those bytes must never be stored as if
 * they were the object.
 */
export function plainTransferEncoding(req: IncomingMessage): void {
  const coding = req.headers['transfer-encoding'];
  if (coding !== undefined && coding.trim().toLowerCase() !== 'chunked') {
    throw new BadRequestError(`Transfer-Encoding must be "chunked" or absent (bodies are not decoded), got ${JSON.stringify(coding.slice(0, 64))}`);
  }
}

/**
 * The body length a client announced, checked against the limit before any byte is
 * read; undefined for chunked bodies.
 */
export function declaredLength(req: IncomingMessage, maxBytes: number, limitName = 'CONNECTOR_MAX_BODY'): number | undefined {
  const header = req.headers['content-length'];
  if (header === undefined) return undefined;
  const length = Number(header);
  if (!Number.isSafeInteger(length) || length < 0) throw new BadRequestError(`Content-Length must be a whole number, got ${JSON.stringify(header)}`);
  if (length > maxBytes) throw new TooLargeError(`request body of ${length} bytes is over the ${maxBytes}-byte limit (${limitName})`);
  return length;
}

/** An attribute value's body at most. */
export const MAX_ATTRIBUTE_BODY = 64 * 1024;

/** Reads a whole small body; a longer one is refused with 413, naming `what`. */
export async function readSmallBody(req: AsyncIterable<Buffer>, maxBytes: number, what: string): Promise<Buffer> {
  const body = await readToEnd(req, maxBytes);
  if (body === undefined) throw new TooLargeError(`${what} is over ${maxBytes} bytes`);
  return body;
}

/** The value of a small JSON body of the form `{"value": "<string>"}`. */
export function parseValueBody(body: Buffer): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new BadRequestError('attribute body must be JSON: {"value": "<string>"}');
  }
  const value = (parsed as { value?: unknown } | null)?.value;
  if (typeof parsed !== 'object' || Array.isArray(parsed) || typeof value !== 'string') {
    throw new BadRequestError('attribute body must be JSON: {"value": "<string>"}');
  }
  return value;
}
