/**
 * `createReadStream` and `createWriteStream` for a state mount. A read stream is the
 * connector's download, passed on with backpressure (nothing held beyond the stream's
 * buffer). A write stream is buffered like `writeFile` (memory, then a temporary file, one
 * PUT with its length when the stream finishes), or, for passthrough mounts, sent as it is
 * written with chunked encoding. `'finish'` means the object is stored.
 */
import type { IncomingMessage } from 'node:http';
import { PassThrough, Readable, Writable } from 'node:stream';
import type { ContentBuffer } from './content-buffer.ts';
import { StateFsError } from './fs-errors.ts';
import type { Expectation } from './expectations.ts';
import type { ProtocolClient } from './protocol-client.ts';
import type { OpenMode } from './open-flags.ts';

export interface ReadStreamOptions {
  /** First byte to deliver (inclusive). */
  readonly start?: number;
  /** Last byte to deliver (inclusive). */
  readonly end?: number;
  readonly highWaterMark?: number;
  readonly encoding?: BufferEncoding;
  readonly signal?: AbortSignal;
}

export class StateReadStream extends Readable {
  readonly path: string;
  /** The object's size, once the download started (`ready`); undefined before, or when the connector did not say. */
  size: number | undefined;
  bytesRead = 0;
  pending = true;
  readonly #protocol: ProtocolClient;
  readonly #key: string;
  readonly #start: number;
  readonly #end: number;
  #response: IncomingMessage | undefined;
  #offset = 0;

  constructor(protocol: ProtocolClient, key: string, path: string, options: ReadStreamOptions = {}) {
    super({
      ...(options.highWaterMark === undefined ? {} : { highWaterMark: options.highWaterMark }),
      ...(options.encoding === undefined ? {} : { encoding: options.encoding }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    this.#protocol = protocol;
    this.#key = key;
    this.path = path;
    this.#start = options.start ?? 0;
    this.#end = options.end ?? Number.POSITIVE_INFINITY;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    const op = { syscall: 'open', path: this.path };
    this.#protocol.download(this.#key, op).then(({ response }) => {
      this.#response = response;
      this.pending = false;
      const length = Number(response.headers['content-length']);
      this.size = Number.isSafeInteger(length) ? length : undefined;
      response.on('data', (chunk: Buffer) => { this.#deliver(chunk, response); });
      response.on('end', () => { this.push(null); });
      response.on('error', (error) => {
        this.destroy(new StateFsError('EIO', 'read', this.path, 'the download was cut short', { cause: error }));
      });
      response.on('aborted', () => {
        this.destroy(new StateFsError('EIO', 'read', this.path, 'the download was cut short'));
      });
      response.pause();
      this.emit('open', -1);
      this.emit('ready');
      callback();
    }, async (error: unknown) => { callback(await this.#protocol.directoryInstead(error, this.#key, op) as Error); });
  }

  override _read(): void {
    this.#response?.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#response?.destroy();
    callback(error);
  }

  #deliver(chunk: Buffer, response: IncomingMessage): void {
    const chunkStart = this.#offset;
    this.#offset += chunk.length;
    const from = Math.max(0, this.#start - chunkStart);
    const to = Math.min(chunk.length, this.#end + 1 - chunkStart);
    if (to > from) {
      const part = from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to);
      this.bytesRead += part.length;
      if (!this.push(part)) response.pause();
    }
    if (this.#offset > this.#end) {
      // Past the requested range: the rest of the download is not needed, and cutting
      // it short is not an error.
      response.removeAllListeners('data').removeAllListeners('aborted').removeAllListeners('error').removeAllListeners('end');
      response.on('error', () => undefined);
      response.destroy();
      this.push(null);
    }
  }
}

export interface WriteStreamOptions {
  readonly contentType?: string;
  readonly highWaterMark?: number;
  readonly signal?: AbortSignal;
  /** Send as written (chunked) instead of buffering; ignored for append. */
  readonly passthrough?: boolean;
  /** Store only if the object is still at this generation (`If-Match`), else EEXIST; overrides what the client remembers. */
  readonly ifMatch?: string;
}

export class StateWriteStream extends Writable {
  readonly path: string;
  bytesWritten = 0;
  pending = true;
  readonly #protocol: ProtocolClient;
  readonly #key: string;
  readonly #mode: OpenMode;
  readonly #options: WriteStreamOptions;
  #content: ContentBuffer | undefined;
  #expect: Expectation | undefined;
  #passthrough: { body: PassThrough; stored: Promise<string | undefined> } | undefined;

  constructor(protocol: ProtocolClient, key: string, path: string, mode: OpenMode, options: WriteStreamOptions = {}) {
    super({
      decodeStrings: true,
      ...(options.highWaterMark === undefined ? {} : { highWaterMark: options.highWaterMark }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    this.#protocol = protocol;
    this.#key = key;
    this.path = path;
    this.#mode = mode;
    this.#options = options;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    const op = { syscall: 'open', path: this.path };
    const upload = {
      exclusive: this.#mode.exclusive,
      ...(this.#options.contentType === undefined ? {} : { contentType: this.#options.contentType }),
      ...(this.#options.ifMatch === undefined ? {} : { expect: { generation: this.#options.ifMatch } }),
    };
    const ready = (): void => {
      this.pending = false;
      this.emit('open', -1);
      this.emit('ready');
      callback();
    };
    if (this.#options.passthrough === true && !this.#mode.append) {
      const body = new PassThrough();
      const stored = this.#protocol.upload(this.#key, op, body, upload);
      // Observed in _final; until then an early failure must not be an unhandled rejection.
      stored.catch(() => undefined);
      this.#passthrough = { body, stored };
      ready();
      return;
    }
    this.#content = this.#protocol.newBuffer();
    if (!this.#mode.append) {
      ready();
      return;
    }
    this.#protocol.readInto(this.#key, op, this.#content).then((read) => {
      this.#expect = read;
      ready();
    }, (error: unknown) => { callback(error as Error); });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.bytesWritten += chunk.length;
    if (this.#passthrough !== undefined) {
      if (this.#passthrough.body.write(chunk)) callback();
      else this.#passthrough.body.once('drain', () => { callback(); });
      return;
    }
    this.#content?.append(chunk).then(() => { callback(); }, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    const op = { syscall: 'close', path: this.path };
    let stored: Promise<unknown>;
    if (this.#passthrough !== undefined) {
      this.#passthrough.body.end();
      stored = this.#passthrough.stored;
    } else {
      const content = this.#content;
      if (content === undefined) throw new Error('write stream finished before it was constructed');
      stored = this.#protocol.upload(this.#key, op, content, {
        exclusive: this.#mode.exclusive,
        ...(this.#options.ifMatch === undefined ? {} : { expect: { generation: this.#options.ifMatch } }),
        ...(this.#expect === undefined ? {} : { expect: this.#expect }),
        ...(this.#options.contentType === undefined ? {} : { contentType: this.#options.contentType }),
      });
    }
    stored.then(() => { callback(); }, (error: unknown) => { callback(error as Error); });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // A stream destroyed before it finished must not store a partial object.
    if (!this.writableFinished) this.#passthrough?.body.destroy(error ?? new Error('write stream destroyed before it finished'));
    const content = this.#content;
    this.#content = undefined;
    if (content === undefined) {
      callback(error);
      return;
    }
    content.dispose().then(() => { callback(error); }, () => { callback(error); });
  }
}
