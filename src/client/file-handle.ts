/**
 * What `open()` answers on a state mount: a `FileHandle`-like object over a local copy
 * of the object. Reads and writes work on the copy (in memory, spilled to a temporary
 * file above the threshold); `sync()` and `close()` upload it in one PUT when it
 * changed, conditional on what was read, so a concurrent change is a conflict, never
 * lost.
 */
import type { ContentBuffer } from './content-buffer.ts';
import { StateFsError } from './fs-errors.ts';
import type { Expectation } from './expectations.ts';
import type { ProtocolClient, Operation } from './protocol-client.ts';
import type { OpenMode } from './open-flags.ts';
import { StateStats } from './stats.ts';
import { toBytes, type WritableData } from './write-data.ts';

export interface ReadResult<T extends Uint8Array> {
  bytesRead: number;
  buffer: T;
}

export interface WriteResult<T> {
  bytesWritten: number;
  buffer: T;
}

export class StateFileHandle {
  /** There is no kernel descriptor behind a state file; -1 says so. */
  readonly fd = -1;
  readonly #protocol: ProtocolClient;
  readonly #key: string;
  readonly #path: string;
  readonly #mode: OpenMode;
  readonly #content: ContentBuffer;
  readonly #contentType: string | undefined;
  /** What the upload is conditional on; undefined: whatever the protocol client remembers. */
  #expect: Expectation | undefined;
  #exclusive: boolean;
  #dirty: boolean;
  #position = 0;
  #closed = false;

  private constructor(protocol: ProtocolClient, key: string, path: string, mode: OpenMode, content: ContentBuffer, expect: Expectation | undefined, dirty: boolean, contentType: string | undefined) {
    this.#protocol = protocol;
    this.#key = key;
    this.#path = path;
    this.#mode = mode;
    this.#content = content;
    this.#expect = expect;
    this.#exclusive = mode.exclusive;
    this.#dirty = dirty;
    this.#contentType = contentType;
  }

  /** Opens `key`: downloads it unless the mode truncates; fails early on `x` over an existing file. */
  static async open(protocol: ProtocolClient, key: string, path: string, mode: OpenMode, contentType?: string): Promise<StateFileHandle> {
    const op = { syscall: 'open', path };
    const content = protocol.newBuffer();
    try {
      if (mode.exclusive) {
        if ((await protocol.head(key, op)) !== undefined) throw new StateFsError('EEXIST', 'open', path, undefined, { reason: 'exists' });
        return new StateFileHandle(protocol, key, path, mode, content, undefined, true, contentType);
      }
      if (mode.truncate) return new StateFileHandle(protocol, key, path, mode, content, undefined, true, contentType);
      const read = await protocol.readInto(key, op, content);
      if (read === 'absent' && !mode.create) throw new StateFsError('ENOENT', 'open', path);
      // A created file is stored on close even if nothing is written, as open(2) would create it.
      return new StateFileHandle(protocol, key, path, mode, content, read, read === 'absent', contentType);
    } catch (error) {
      await content.dispose();
      throw error;
    }
  }

  /** Reads into `buffer` (all of it by default) from `position`, or from the current position when it is null. */
  async read<T extends Uint8Array = Buffer>(buffer?: T | { buffer?: T; offset?: number; length?: number; position?: number | null }, offset?: number, length?: number, position?: number | null): Promise<ReadResult<T>> {
    this.#check('read', this.#mode.readable);
    let target: T;
    if (buffer === undefined || !(buffer instanceof Uint8Array)) {
      const options = buffer ?? {};
      target = options.buffer ?? (Buffer.alloc(16384) as unknown as T);
      offset = options.offset;
      length = options.length;
      position = options.position;
    } else {
      target = buffer;
    }
    const start = offset ?? 0;
    const count = length ?? target.byteLength - start;
    const at = position ?? this.#position;
    const bytesRead = await this.#content.read(target, start, count, at);
    if (position === null || position === undefined) this.#position = at + bytesRead;
    return { bytesRead, buffer: target };
  }

  /** Writes a buffer (`offset`, `length`, `position`) or a string (`position`, `encoding`). */
  async write<T extends Uint8Array | string>(data: T, offsetOrPosition?: number | null, lengthOrEncoding?: number | BufferEncoding | null, position?: number | null): Promise<WriteResult<T>> {
    this.#check('write', this.#mode.writable);
    let bytes: Uint8Array;
    let at: number | null | undefined;
    if (typeof data === 'string') {
      bytes = Buffer.from(data, typeof lengthOrEncoding === 'string' ? lengthOrEncoding : 'utf8');
      at = offsetOrPosition;
    } else {
      const start = offsetOrPosition ?? 0;
      const count = typeof lengthOrEncoding === 'number' ? lengthOrEncoding : data.byteLength - start;
      bytes = data.subarray(start, start + count);
      at = position;
    }
    const writeAt = this.#mode.append ? this.#content.size : at ?? this.#position;
    await this.#content.write(bytes, writeAt);
    if (at === null || at === undefined || this.#mode.append) this.#position = writeAt + bytes.length;
    this.#dirty = true;
    return { bytesWritten: bytes.length, buffer: data };
  }

  async readFile(options?: BufferEncoding | { encoding?: BufferEncoding | null } | null): Promise<Buffer | string> {
    this.#check('read', this.#mode.readable);
    const bytes = await this.#content.toBuffer();
    const encoding = typeof options === 'string' ? options : options?.encoding;
    return encoding === undefined || encoding === null ? bytes : bytes.toString(encoding);
  }

  /** Replaces the content (or appends, in append mode). */
  async writeFile(data: WritableData, options?: BufferEncoding | { encoding?: BufferEncoding | null } | null): Promise<void> {
    this.#check('write', this.#mode.writable);
    const encoding = (typeof options === 'string' ? options : options?.encoding) ?? 'utf8';
    if (!this.#mode.append) {
      await this.#content.truncate(0);
      this.#position = 0;
    }
    for await (const chunk of toBytes(data, encoding)) await this.write(chunk);
    this.#dirty = true;
  }

  async appendFile(data: WritableData, options?: BufferEncoding | { encoding?: BufferEncoding | null } | null): Promise<void> {
    this.#check('write', this.#mode.writable);
    const encoding = (typeof options === 'string' ? options : options?.encoding) ?? 'utf8';
    for await (const chunk of toBytes(data, encoding)) await this.#content.append(chunk);
    this.#dirty = true;
  }

  async truncate(length = 0): Promise<void> {
    this.#check('ftruncate', this.#mode.writable);
    await this.#content.truncate(length);
    this.#dirty = true;
  }

  stat(): Promise<StateStats> {
    this.#check('fstat', true);
    return Promise.resolve(new StateStats({ kind: 'file', size: this.#content.size, mtimeMs: Date.now() }));
  }

  /** Uploads now if anything changed (instead of at close). */
  async sync(): Promise<void> {
    this.#check('fsync', true);
    await this.#flush({ syscall: 'fsync', path: this.#path });
  }

  datasync(): Promise<void> {
    return this.sync();
  }

  /** Uploads if anything changed, then releases the local copy. The handle is closed even if the upload fails. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#flush({ syscall: 'close', path: this.#path });
    } finally {
      this.#closed = true;
      await this.#content.dispose();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #flush(op: Operation): Promise<void> {
    if (!this.#dirty) return;
    const generation = await this.#protocol.upload(this.#key, op, this.#content, {
      exclusive: this.#exclusive,
      ...(this.#expect === undefined ? {} : { expect: this.#expect }),
      ...(this.#contentType === undefined ? {} : { contentType: this.#contentType }),
    });
    this.#dirty = false;
    this.#exclusive = false;
    // A later sync on this handle overwrites only our own write.
    if (generation !== undefined) this.#expect = { generation };
  }

  #check(syscall: string, allowed: boolean): void {
    if (this.#closed) throw new StateFsError('EBADF', syscall, this.#path, 'the file handle is closed');
    if (!allowed) throw new StateFsError('EBADF', syscall, this.#path, `the file was not opened for ${syscall === 'read' ? 'reading' : 'writing'}`);
  }
}
