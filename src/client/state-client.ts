/**
 * The explicit client for one state mount, mirroring `node:fs/promises`: paths are the
 * mount's paths (`/state/cache/result.json`) or keys relative to it (`result.json`), and
 * errors are fs errors. Reads remember each object's generation and writes send it as
 * `If-Match`, so compare-and-set holds through connector restarts (`compareAndSet: false`
 * turns that off).
 */
import { tmpdir } from 'node:os';
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StateFileHandle } from './file-handle.ts';
import type { StateMount } from './mounts.ts';
import { StateFsError } from './fs-errors.ts';
import { ProtocolClient, type Operation, type StateQuery, type StateQueryResult } from './protocol-client.ts';
import { parseOpenFlags, type OpenMode } from './open-flags.ts';
import { SocketTransport } from './socket-transport.ts';
import { readToEnd } from '../read-to-end.ts';
import { StateDirent, StateStats } from './stats.ts';
import { StateReadStream, StateWriteStream, type ReadStreamOptions, type WriteStreamOptions } from './streams.ts';
import { inMemoryBytes, toBytes, type WritableData } from './write-data.ts';

export interface StateClientOptions {
  /** The connector's Unix socket. */
  readonly socketPath: string;
  /** Absolute path the mount appears at (`/state/cache`); absolute paths must be under it. Default `/`. */
  readonly mountPath?: string;
  /** Longest wait for the connector without progress, ms. Default 30000. */
  readonly timeoutMs?: number;
  /** Reuse connections. Default true. */
  readonly keepAlive?: boolean;
  /** Remember generations on read and send `If-Match` on write. Default true. */
  readonly compareAndSet?: boolean;
  /** Writes are held in memory up to this many bytes, the rest in a temporary file. Default 4 MiB. */
  readonly spillThresholdBytes?: number;
  /** Where spilled writes go. Default the OS temp dir. */
  readonly tmpDir?: string;
  /** `buffered` (default): a write stream uploads once, with its length, when it ends; `passthrough`: it streams as written. */
  readonly writeMode?: 'buffered' | 'passthrough';
}

export type PathLike = string | URL | Buffer;
type EncodingOption = BufferEncoding | { encoding?: BufferEncoding | null; flag?: string | number } | null | undefined;

export interface WriteFileOptions {
  readonly encoding?: BufferEncoding | null;
  /** `w` (default), `wx` (create only), `a` (append), `ax`. */
  readonly flag?: string | number;
  /** Content-Type stored with the object. Default `application/octet-stream`. */
  readonly contentType?: string;
}

export class StateClient {
  readonly socketPath: string;
  readonly mountPath: string;
  readonly #protocol: ProtocolClient;
  readonly #writeMode: 'buffered' | 'passthrough';

  constructor(options: StateClientOptions) {
    if (typeof options.socketPath !== 'string' || !posix.isAbsolute(options.socketPath)) {
      throw new TypeError(`socketPath must be the connector socket's absolute path, got ${JSON.stringify(options.socketPath)}`);
    }
    const mountPath = options.mountPath ?? '/';
    if (!posix.isAbsolute(mountPath)) throw new TypeError(`mountPath must be absolute, got ${JSON.stringify(mountPath)}`);
    const timeoutMs = options.timeoutMs ?? 30_000;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new RangeError(`timeoutMs must be a whole number of milliseconds ≥ 1, got ${String(timeoutMs)}`);
    const spill = options.spillThresholdBytes ?? 4 * 1024 * 1024;
    if (!Number.isInteger(spill) || spill < 0) throw new RangeError(`spillThresholdBytes must be a whole number of bytes ≥ 0, got ${String(spill)}`);
    const writeMode: string = options.writeMode ?? 'buffered';
    if (writeMode !== 'buffered' && writeMode !== 'passthrough') throw new TypeError(`writeMode must be "buffered" or "passthrough", got ${JSON.stringify(writeMode)}`);

    this.socketPath = options.socketPath;
    this.mountPath = posix.resolve(mountPath);
    this.#writeMode = writeMode;
    this.#protocol = new ProtocolClient(
      new SocketTransport({ socketPath: options.socketPath, timeoutMs, keepAlive: options.keepAlive ?? true }),
      { compareAndSet: options.compareAndSet ?? true, spillThresholdBytes: spill, tmpDir: options.tmpDir ?? tmpdir() },
    );
  }

  /** The client for a mount of ASYA_STATE_PROXY_MOUNTS (the fs hooks and their sync worker make them alike). */
  static forMount(mount: StateMount, timeoutMs: number): StateClient {
    return new StateClient({
      socketPath: mount.socketPath,
      mountPath: mount.path,
      writeMode: mount.writeMode,
      compareAndSet: mount.compareAndSet,
      timeoutMs,
    });
  }

  /** The mount-relative key of `path` ('' for the mount root). */
  keyOf(path: PathLike): string {
    const text = pathText(path);
    const absolute = posix.resolve(this.mountPath, text);
    if (absolute === this.mountPath) return '';
    const root = this.mountPath === '/' ? '/' : `${this.mountPath}/`;
    if (!absolute.startsWith(root)) throw new StateFsError('EINVAL', 'open', text, `the path is outside the mount ${this.mountPath}`);
    return absolute.slice(root.length);
  }

  async readFile(path: PathLike, options?: EncodingOption): Promise<Buffer | string> {
    const op = operation('open', path);
    const key = this.#fileKey(path, op);
    let download;
    try {
      download = await this.#protocol.download(key, op);
    } catch (error) {
      throw await this.#protocol.directoryInstead(error, key, op);
    }
    let bytes: Buffer;
    try {
      bytes = await readToEnd(download.response);
    } catch (error) {
      throw new StateFsError('EIO', 'read', op.path, 'the download was cut short', { cause: error });
    }
    const encoding = encodingOf(options);
    return encoding === undefined ? bytes : bytes.toString(encoding);
  }

  /** Stores `data` as the whole file, in one PUT (streams and iterables spill to disk above the threshold). */
  async writeFile(path: PathLike, data: WritableData, options?: BufferEncoding | WriteFileOptions | null): Promise<void> {
    const op = operation('open', path);
    const key = this.#fileKey(path, op);
    const settings = typeof options === 'string' ? { encoding: options } : options ?? {};
    const mode = parseFlagsOrThrow(settings.flag ?? 'w', op);
    if (mode.append) {
      await this.#appendTo(key, op, data, settings.encoding ?? 'utf8', mode.exclusive, settings.contentType);
      return;
    }
    const contentType = settings.contentType === undefined ? {} : { contentType: settings.contentType };
    const bytes = inMemoryBytes(data, settings.encoding ?? 'utf8');
    if (bytes !== undefined) {
      await this.#protocol.upload(key, op, bytes, { exclusive: mode.exclusive, ...contentType });
      return;
    }
    const content = this.#protocol.newBuffer();
    try {
      for await (const chunk of toBytes(data, settings.encoding ?? 'utf8')) await content.append(chunk);
      await this.#protocol.upload(key, op, content, { exclusive: mode.exclusive, ...contentType });
    } finally {
      await content.dispose();
    }
  }

  /**
   * Appends by read-and-rewrite: downloads the file (absent means empty), adds `data`, and
   * uploads the whole, conditional on the file being unchanged since that read. A
   * concurrent writer makes this fail with EEXIST (reason `conflict`) instead of losing
   * either write.
   */
  async appendFile(path: PathLike, data: WritableData, options?: BufferEncoding | WriteFileOptions | null): Promise<void> {
    const op = operation('open', path);
    const settings = typeof options === 'string' ? { encoding: options } : options ?? {};
    await this.#appendTo(this.#fileKey(path, op), op, data, settings.encoding ?? 'utf8', false, settings.contentType);
  }

  /** Opens a file handle; see docs/client.md for what each flag means on object storage. */
  async open(path: PathLike, flags: string | number = 'r', _mode?: number): Promise<StateFileHandle> {
    const op = operation('open', path);
    const key = this.#fileKey(path, op);
    try {
      return await StateFileHandle.open(this.#protocol, key, op.path, parseFlagsOrThrow(flags, op));
    } catch (error) {
      throw await this.#protocol.directoryInstead(error, key, op);
    }
  }

  createReadStream(path: PathLike, options?: BufferEncoding | ReadStreamOptions): StateReadStream {
    const op = operation('open', path);
    return new StateReadStream(this.#protocol, this.#fileKey(path, op), op.path, typeof options === 'string' ? { encoding: options } : options);
  }

  createWriteStream(path: PathLike, options?: BufferEncoding | (WriteStreamOptions & { flags?: string | number })): StateWriteStream {
    const op = operation('open', path);
    const settings = typeof options === 'string' ? {} : options ?? {};
    const mode = parseFlagsOrThrow(settings.flags ?? 'w', op);
    return new StateWriteStream(this.#protocol, this.#fileKey(path, op), op.path, mode, { passthrough: this.#writeMode === 'passthrough', ...settings });
  }

  readdir(path: PathLike, options: { withFileTypes: true; recursive?: boolean }): Promise<StateDirent[]>;
  readdir(path: PathLike, options?: BufferEncoding | { withFileTypes?: false; recursive?: boolean; encoding?: BufferEncoding | null } | null): Promise<string[]>;
  readdir(path: PathLike, options?: BufferEncoding | { withFileTypes?: boolean; recursive?: boolean; encoding?: BufferEncoding | null } | null): Promise<string[] | StateDirent[]>;
  /**
   * Lists a directory. Directories are prefixes: one that holds nothing lists as empty
   * rather than ENOENT, so `mkdir` then `readdir` works; a file answers ENOTDIR.
   */
  async readdir(path: PathLike, options?: BufferEncoding | { withFileTypes?: boolean; recursive?: boolean; encoding?: BufferEncoding | null } | null): Promise<string[] | StateDirent[]> {
    const op = operation('scandir', path);
    const key = this.keyOf(path);
    const settings = typeof options === 'object' && options !== null ? options : {};
    const prefix = key === '' ? '' : `${key}/`;
    const recursive = settings.recursive === true;
    const listing = await this.#protocol.list(prefix, recursive ? '' : '/', op);
    if (listing.keys.length === 0 && listing.prefixes.length === 0 && key !== '') {
      if ((await this.#protocol.head(key, op))?.kind === 'file') throw new StateFsError('ENOTDIR', 'scandir', op.path);
    }
    const parent = posix.resolve(this.mountPath, pathText(path));
    const entries = new Map<string, StateDirent>();
    const add = (relative: string, kind: 'file' | 'directory'): void => {
      if (relative === '' || entries.has(relative)) return;
      const slash = relative.lastIndexOf('/');
      entries.set(relative, new StateDirent({ name: relative.slice(slash + 1), parentPath: slash < 0 ? parent : posix.join(parent, relative.slice(0, slash)), kind }));
    };
    for (const found of listing.prefixes) add(found.slice(prefix.length, -1), 'directory');
    for (const found of listing.keys) {
      const relative = found.slice(prefix.length);
      if (recursive) {
        // A recursive listing names only objects; the directories between are implied.
        const parts = relative.split('/');
        for (let depth = 1; depth < parts.length; depth++) add(parts.slice(0, depth).join('/'), 'directory');
      }
      add(relative, 'file');
    }
    const sorted = [...entries.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return settings.withFileTypes === true ? sorted.map(([, dirent]) => dirent) : sorted.map(([relative]) => relative);
  }

  /** HEAD: a file (size, mtime, generation) or a directory (the mount root, or a prefix with objects under it). */
  async stat(path: PathLike, _options?: { bigint?: false }): Promise<StateStats> {
    const op = operation('stat', path);
    const key = this.keyOf(path);
    if (key === '') return new StateStats({ kind: 'directory', size: 0, mtimeMs: 0 });
    const found = await this.#protocol.head(key, op);
    if (found === undefined) throw new StateFsError('ENOENT', 'stat', op.path);
    return new StateStats(found);
  }

  /** Same as {@link stat}: there are no links. */
  lstat(path: PathLike, options?: { bigint?: false }): Promise<StateStats> {
    return this.stat(path, options);
  }

  /** Resolves when the file or directory exists; ENOENT otherwise. Access modes are not checked: the connector's credentials decide. */
  async access(path: PathLike, _mode?: number): Promise<void> {
    const op = operation('access', path);
    const key = this.keyOf(path);
    if (key !== '' && (await this.#protocol.head(key, op)) === undefined) throw new StateFsError('ENOENT', 'access', op.path);
  }

  async exists(path: PathLike): Promise<boolean> {
    try {
      await this.access(path);
      return true;
    } catch (error) {
      if (error instanceof StateFsError && error.code === 'ENOENT') return false;
      throw error;
    }
  }

  async unlink(path: PathLike): Promise<void> {
    const op = operation('unlink', path);
    const key = this.#fileKey(path, op);
    try {
      await this.#protocol.remove(key, op);
    } catch (error) {
      throw await this.#protocol.directoryInstead(error, key, op);
    }
  }

  /** Removes a file; with `recursive`, a directory and everything under it; with `force`, a missing path is fine. */
  async rm(path: PathLike, options: { force?: boolean; recursive?: boolean } = {}): Promise<void> {
    const op = operation('rm', path);
    const key = this.keyOf(path);
    if (key !== '') {
      // Most removals are of files: one DELETE; only a miss asks whether it was a directory.
      try {
        await this.#protocol.remove(key, op);
        return;
      } catch (error) {
        if (!(error instanceof StateFsError && error.code === 'ENOENT')) throw error;
      }
      if ((await this.#protocol.head(key, op))?.kind !== 'directory') {
        if (options.force === true) return;
        throw new StateFsError('ENOENT', 'rm', op.path);
      }
    }
    if (options.recursive !== true) throw new StateFsError('EISDIR', 'rm', op.path, 'a directory; pass { recursive: true } to remove it and everything in it');
    const listing = await this.#protocol.list(key === '' ? '' : `${key}/`, '', op);
    for (const found of listing.keys) {
      await this.#protocol.remove(found, op).catch((error: unknown) => {
        if (!(error instanceof StateFsError && error.code === 'ENOENT')) throw error;
      });
    }
  }

  /** Succeeds on an empty directory (directories are implicit: nothing to remove); ENOTEMPTY otherwise. */
  async rmdir(path: PathLike): Promise<void> {
    const op = operation('rmdir', path);
    const key = this.keyOf(path);
    const found = key === '' ? undefined : await this.#protocol.head(key, op);
    if (found?.kind === 'file') throw new StateFsError('ENOTDIR', 'rmdir', op.path);
    if (found?.kind === 'directory' || key === '') {
      const listing = await this.#protocol.list(key === '' ? '' : `${key}/`, '/', op);
      if (listing.keys.length > 0 || listing.prefixes.length > 0) throw new StateFsError('ENOTEMPTY', 'rmdir', op.path);
    }
  }

  /** Succeeds without a request: directories exist implicitly, as prefixes of the files in them. */
  mkdir(path: PathLike, _options?: number | { recursive?: boolean; mode?: number }): Promise<undefined> {
    this.keyOf(path);
    return Promise.resolve(undefined);
  }

  /** The path itself, normalized, once it is known to exist (there are no links to resolve). */
  async realpath(path: PathLike): Promise<string> {
    await this.access(path);
    return posix.resolve(this.mountPath, pathText(path));
  }

  /** Reads an attribute: `url`, `signed_url`, `generation`, `metageneration`, `content_type`, `storage_class` (a `user.asya.` prefix is accepted). */
  /**
   * The JSON documents under a prefix that match a filter, sorted and paged by the
   * connector (`POST /query`, docs/protocol.md). `prefix` is a key prefix relative to the
   * mount (`users/`), or an absolute path under it (`/state/cache/users/`).
   */
  async query<T = unknown>(query: StateQuery = {}): Promise<StateQueryResult<T>> {
    const prefix = query.prefix ?? '';
    return this.#protocol.query<T>({ ...query, prefix: this.#keyPrefix(prefix) }, operation('query', prefix));
  }

  getxattr(path: PathLike, name: string): Promise<string> {
    const op = operation('getxattr', path);
    return this.#protocol.attribute(this.#fileKey(path, op), attributeName(name), op);
  }

  /** Sets a writable attribute (`content_type`). */
  setxattr(path: PathLike, name: string, value: string): Promise<void> {
    const op = operation('setxattr', path);
    return this.#protocol.setAttribute(this.#fileKey(path, op), attributeName(name), value, op);
  }

  /** The attribute names a file offers, without the `user.asya.` prefix. */
  listxattr(path: PathLike): Promise<string[]> {
    const op = operation('listxattr', path);
    return this.#protocol.attributeNames(this.#fileKey(path, op), op);
  }

  /** Closes kept-alive connections. Pending requests still finish. */
  close(): void {
    this.#protocol.close();
  }

  async #appendTo(key: string, op: Operation, data: WritableData, encoding: BufferEncoding, exclusive: boolean, contentType: string | undefined): Promise<void> {
    const content = this.#protocol.newBuffer();
    try {
      const read = exclusive ? 'absent' : await this.#protocol.readInto(key, op, content);
      for await (const chunk of toBytes(data, encoding)) await content.append(chunk);
      await this.#protocol.upload(key, op, content, { expect: read, exclusive, ...(contentType === undefined ? {} : { contentType }) });
    } finally {
      await content.dispose();
    }
  }

  /** The key of a file: the mount root is a directory. */
  /** The key of a file path; the mount root or a path ending in "/" names a directory (EISDIR), as on Linux. */
  #fileKey(path: PathLike, op: Operation): string {
    const key = this.keyOf(path);
    if (key === '' || pathText(path).endsWith('/')) throw new StateFsError('EISDIR', op.syscall, op.path, 'the path names a directory');
    return key;
  }

  /** A query prefix as a key prefix: an absolute path becomes its key, keeping a trailing "/". */
  #keyPrefix(prefix: string): string {
    if (!prefix.startsWith('/')) return prefix;
    const key = this.keyOf(prefix);
    return key !== '' && prefix.endsWith('/') ? `${key}/` : key;
  }

}

/** `user.asya.url` and `url` both name the `url` attribute. */
function attributeName(name: string): string {
  return name.startsWith('user.asya.') ? name.slice('user.asya.'.length) : name;
}

function pathText(path: PathLike): string {
  if (typeof path === 'string') return path;
  if (path instanceof URL) return fileURLToPath(path);
  return path.toString('utf8');
}

function operation(syscall: string, path: PathLike): Operation {
  return { syscall, path: pathText(path) };
}

function encodingOf(options: EncodingOption): BufferEncoding | undefined {
  if (typeof options === 'string') return options;
  return options?.encoding ?? undefined;
}

function parseFlagsOrThrow(flags: string | number, op: Operation): OpenMode {
  const mode = parseOpenFlags(flags);
  if (mode === undefined) throw new StateFsError('EINVAL', op.syscall, op.path, `unknown open flags ${JSON.stringify(flags)}; use r, r+, w, w+, wx, a, a+, ax or their fs.constants forms`);
  return mode;
}
