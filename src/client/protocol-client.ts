/**
 * The protocol's operations on one connector, keyed by mount-relative keys: download,
 * upload with preconditions, head, list, delete and attributes. It remembers generations
 * for compare-and-set and turns every failure into a {@link StateFsError}; fs semantics
 * (paths, flags, directories) live in the client above it.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { ContentBuffer } from './content-buffer.ts';
import { errorFromAnswer, fsErrorFromTransport, StateFsError, type ExistsReason } from './fs-errors.ts';
import { ExpectationMemory, type Expectation } from './expectations.ts';
import type { Exchange, SocketTransport } from './socket-transport.ts';
import { readToEnd } from '../read-to-end.ts';
import type { StatsData } from './stats.ts';
import { hasControlCharacter } from '../control-characters.ts';

/** Which fs call a request serves, for the errors it may raise. */
export interface Operation {
  readonly syscall: string;
  readonly path: string;
}

export interface UploadOptions {
  /** Create only if absent (`x` flags): EEXIST with reason `exists` otherwise. */
  readonly exclusive?: boolean;
  /** Write only if the object is still as read (read-and-rewrite); overrides the memory. */
  readonly expect?: Expectation;
  readonly contentType?: string;
}

/** A `POST /query`: every field optional (docs/protocol.md). */
export interface StateQuery {
  /** Mount-relative key prefix; default the whole mount. */
  readonly prefix?: string;
  /** `field: value` pairs that must all hold; a value may be `{"$gt": 3}` and the other operators. */
  readonly filter?: Readonly<Record<string, unknown>>;
  /** Field names, ascending; a leading `-` sorts descending. */
  readonly sort?: readonly string[];
  /** Rows to answer; 0 or absent: the connector's cap (10,000). */
  readonly limit?: number;
  readonly offset?: number;
}

/** A `POST /query` answer, with what the connector left out. */
export interface StateQueryResult<T = unknown> {
  readonly rows: T[];
  /** Matching documents before offset and limit. */
  readonly total: number;
  /** Documents the connector read. */
  readonly read: number;
  /** Files left out for what they are: not JSON, over the connector's document limit, or deleted meanwhile. */
  readonly skipped: number;
  /** Files left unread because the query reached the connector's caps: nonzero means the answer covers part of the prefix. */
  readonly unread: number;
}

export interface ConnectionOptions {
  readonly compareAndSet: boolean;
  readonly spillThresholdBytes: number;
  readonly tmpDir: string;
}

/** Generations remembered per connection; more keys than this are forgotten oldest first. */
const REMEMBERED_KEYS = 10_000;

export class ProtocolClient {
  readonly transport: SocketTransport;
  readonly #options: ConnectionOptions;
  readonly #generations: ExpectationMemory | undefined;

  constructor(transport: SocketTransport, options: ConnectionOptions) {
    this.transport = transport;
    this.#options = options;
    this.#generations = options.compareAndSet ? new ExpectationMemory(REMEMBERED_KEYS) : undefined;
  }

  newBuffer(): ContentBuffer {
    return new ContentBuffer(this.#options.spillThresholdBytes, this.#options.tmpDir);
  }

  /** GET: the 200 response, its body unread. A missing object throws ENOENT. */
  async download(key: string, op: Operation): Promise<{ response: IncomingMessage; generation: string | undefined }> {
    const response = await this.#send(op, { method: 'GET', path: keyPath(key) });
    if (response.statusCode !== 200) {
      if (response.statusCode === 404) this.#generations?.set(key, 'absent');
      throw await this.#failure(response, op);
    }
    const generation = generationOf(response);
    if (generation !== undefined) this.#generations?.set(key, { generation });
    return { response, generation };
  }

  /** Downloads into `target`; answers what was read, `absent` when there is no object. */
  async readInto(key: string, op: Operation, target: ContentBuffer): Promise<Expectation> {
    let download;
    try {
      download = await this.download(key, op);
    } catch (error) {
      if (error instanceof StateFsError && error.code === 'ENOENT' && error.status === 404) return 'absent';
      throw error;
    }
    try {
      for await (const chunk of download.response as AsyncIterable<Buffer>) await target.append(chunk);
    } catch (error) {
      throw new StateFsError('EIO', op.syscall, op.path, 'the download was cut short', { cause: error });
    }
    if (download.generation === undefined) throw new StateFsError('EIO', op.syscall, op.path, 'the connector sent no ETag; it is too old for read-and-rewrite');
    return { generation: download.generation };
  }

  /**
   * PUT the whole object; answers its new generation. A Buffer or a ContentBuffer goes with
   * its length; a stream (passthrough writes) goes chunked, as the caller writes it.
   */
  async upload(key: string, op: Operation, source: Buffer | ContentBuffer | Readable, options: UploadOptions = {}): Promise<string | undefined> {
    const [precondition, reason] = this.#precondition(key, options);
    const length: OutgoingHttpHeaders = source instanceof ContentBuffer ? { 'content-length': source.size }
      : Buffer.isBuffer(source) ? { 'content-length': source.length }
      : { 'transfer-encoding': 'chunked' };
    const headers: OutgoingHttpHeaders = { ...length, 'content-type': options.contentType ?? 'application/octet-stream', ...precondition };
    const body = source instanceof ContentBuffer ? source.stream() : source;
    const response = await this.#send(op, { method: 'PUT', path: keyPath(key), headers, body });
    if (response.statusCode !== 204 && response.statusCode !== 200) {
      if (response.statusCode === 409) this.#generations?.forget(key);
      throw await this.#failure(response, op, reason);
    }
    response.resume();
    const generation = generationOf(response);
    if (generation !== undefined) this.#generations?.set(key, { generation });
    return generation;
  }

  /** HEAD: a file, a directory, or undefined when neither exists. */
  async head(key: string, op: Operation): Promise<StatsData | undefined> {
    const response = await this.#send(op, { method: 'HEAD', path: keyPath(key) });
    response.resume();
    if (response.statusCode === 404) return undefined;
    if (response.statusCode !== 204 && response.statusCode !== 200) throw errorFromAnswer(response.statusCode ?? 0, Buffer.alloc(0), op.syscall, op.path);
    if (response.headers['x-is-file'] === 'false') return { kind: 'directory', size: 0, mtimeMs: 0 };
    const modified = response.headers['last-modified'];
    const generation = generationOf(response);
    const contentType = response.headers['content-type'];
    return {
      kind: 'file',
      size: Number(response.headers['content-length'] ?? 0),
      mtimeMs: modified === undefined ? 0 : Date.parse(modified),
      ...(generation === undefined ? {} : { generation }),
      ...(contentType === undefined ? {} : { contentType }),
    };
  }

  /**
   * The keys and sub-prefixes under `prefix` (`delimiter` empty: everything below), asked
   * for a page of LIST_PAGE at a time so the connector never holds a whole large
   * directory. Entries that are not safe keys under `prefix` (`..`, `.`, empty segments,
   * control characters: names another writer planted in the bucket) are left out, so no
   * entry can resolve outside the mount.
   */
  async list(prefix: string, delimiter: string, op: Operation): Promise<{ keys: string[]; prefixes: string[] }> {
    const keys: string[] = [];
    const prefixes: string[] = [];
    let pageToken: string | undefined;
    do {
      const token = pageToken === undefined ? '' : `&page_token=${encodeURIComponent(pageToken)}`;
      const response = await this.#send(op, { method: 'GET', path: `/keys/?prefix=${encodeURIComponent(prefix)}&delimiter=${encodeURIComponent(delimiter)}&limit=${LIST_PAGE}${token}` });
      if (response.statusCode !== 200) throw await this.#failure(response, op);
      const body = await this.#readBody(response, op);
      const parsed = JSON.parse(body.toString('utf8')) as { keys?: unknown; prefixes?: unknown; next_page_token?: unknown };
      if (!isStringArray(parsed.keys) || !isStringArray(parsed.prefixes)) throw new StateFsError('EIO', op.syscall, op.path, 'the connector answered a listing without keys and prefixes');
      keys.push(...parsed.keys.filter((key) => isSafeEntry(key, prefix, false)));
      prefixes.push(...parsed.prefixes.filter((key) => isSafeEntry(key, prefix, true)));
      pageToken = typeof parsed.next_page_token === 'string' && parsed.next_page_token !== '' ? parsed.next_page_token : undefined;
    } while (pageToken !== undefined);
    return { keys, prefixes };
  }

  async query<T>(query: StateQuery, op: Operation): Promise<StateQueryResult<T>> {
    const body = Buffer.from(JSON.stringify(query));
    const response = await this.#send(op, {
      method: 'POST',
      path: '/query',
      headers: { 'content-type': 'application/json', 'content-length': body.length },
      body,
    });
    if (response.statusCode !== 200) throw await this.#failure(response, op);
    const parsed = JSON.parse((await this.#readBody(response, op)).toString('utf8')) as { rows?: unknown; total?: unknown };
    if (!Array.isArray(parsed.rows) || typeof parsed.total !== 'number') throw new StateFsError('EIO', op.syscall, op.path, 'the connector answered a query without rows and total');
    const count = (name: string): number => Number(response.headers[name] ?? 0);
    return { rows: parsed.rows as T[], total: parsed.total, read: count('x-query-read'), skipped: count('x-query-skipped'), unread: count('x-query-unread') };
  }

  /** ENOENT for a key that is a directory becomes EISDIR (one HEAD, on the error path only). */
  async directoryInstead(error: unknown, key: string, op: Operation): Promise<unknown> {
    if (!(error instanceof StateFsError) || error.code !== 'ENOENT' || error.status !== 404) return error;
    const found = await this.head(key, op).catch(() => undefined);
    return found?.kind === 'directory' ? new StateFsError('EISDIR', op.syscall, op.path) : error;
  }

  async remove(key: string, op: Operation): Promise<void> {
    const response = await this.#send(op, { method: 'DELETE', path: keyPath(key) });
    if (response.statusCode !== 204 && response.statusCode !== 200) throw await this.#failure(response, op);
    response.resume();
    this.#generations?.forget(key);
  }

  async attribute(key: string, name: string, op: Operation): Promise<string> {
    const response = await this.#send(op, { method: 'GET', path: `/meta/${encodeKey(key)}?attr=${encodeURIComponent(name)}` });
    if (response.statusCode !== 200) throw await this.#failure(response, op);
    const parsed = JSON.parse((await this.#readBody(response, op)).toString('utf8')) as { value?: unknown };
    if (typeof parsed.value !== 'string') throw new StateFsError('EIO', op.syscall, op.path, 'the connector answered an attribute without a string value');
    return parsed.value;
  }

  async setAttribute(key: string, name: string, value: string, op: Operation): Promise<void> {
    const body = Buffer.from(JSON.stringify({ value }));
    const response = await this.#send(op, {
      method: 'PUT',
      path: `/meta/${encodeKey(key)}?attr=${encodeURIComponent(name)}`,
      headers: { 'content-type': 'application/json', 'content-length': body.length },
      body,
    });
    if (response.statusCode !== 204 && response.statusCode !== 200) throw await this.#failure(response, op);
    response.resume();
  }

  async attributeNames(key: string, op: Operation): Promise<string[]> {
    const response = await this.#send(op, { method: 'GET', path: `/meta/${encodeKey(key)}` });
    if (response.statusCode !== 200) throw await this.#failure(response, op);
    const parsed = JSON.parse((await this.#readBody(response, op)).toString('utf8')) as { attrs?: unknown };
    if (!isStringArray(parsed.attrs)) throw new StateFsError('EIO', op.syscall, op.path, 'the connector answered an attribute list without names');
    return parsed.attrs;
  }

  close(): void {
    this.transport.close();
  }

  /** The write's precondition headers, and what a 409 then means when the client knows better than the connector. */
  #precondition(key: string, options: UploadOptions): [OutgoingHttpHeaders, ExistsReason | undefined] {
    if (options.exclusive === true) return [{ 'if-none-match': '*' }, 'exists'];
    const expected = options.expect ?? this.#generations?.get(key);
    if (expected === undefined) return [{}, undefined];
    if (expected === 'absent') return [{ 'if-none-match': '*' }, 'generation_mismatch'];
    return [{ 'if-match': `"${expected.generation}"` }, 'generation_mismatch'];
  }

  async #send(op: Operation, exchange: Exchange): Promise<IncomingMessage> {
    try {
      return await this.transport.send(exchange);
    } catch (error) {
      throw fsErrorFromTransport(error, op.syscall, op.path, this.transport.socketPath);
    }
  }

  async #readBody(response: IncomingMessage, op: Operation): Promise<Buffer> {
    try {
      return await readToEnd(response);
    } catch (error) {
      throw fsErrorFromTransport(error, op.syscall, op.path, this.transport.socketPath);
    }
  }

  async #failure(response: IncomingMessage, op: Operation, reason?: ExistsReason): Promise<StateFsError> {
    const body = await this.#readBody(response, op).catch(() => Buffer.alloc(0));
    return errorFromAnswer(response.statusCode ?? 0, body, op.syscall, op.path, reason);
  }
}

/** Each segment percent-encoded, so spaces, `%`, `?`, `#` and non-ASCII travel intact. */
function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

function keyPath(key: string): string {
  return `/keys/${encodeKey(key)}`;
}

function generationOf(response: IncomingMessage): string | undefined {
  const etag = response.headers.etag;
  if (etag === undefined) return undefined;
  const match = /^(?:W\/)?"([^"]*)"$/.exec(etag);
  return match?.[1] ?? etag;
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

/** Listing page size asked of the connector (its largest). */
const LIST_PAGE = 1000;


/** True for a listed key under `prefix` whose every segment is a real name (a prefix ends with "/"). */
function isSafeEntry(key: string, prefix: string, isPrefix: boolean): boolean {
  if (!key.startsWith(prefix) || hasControlCharacter(key)) return false;
  const body = isPrefix ? key.slice(0, -1) : key;
  if (isPrefix && !key.endsWith('/')) return false;
  return body !== '' && body.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}
