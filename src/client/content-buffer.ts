/**
 * The bytes of a file being read or written through a handle or a write stream: in
 * memory up to a threshold, then in a temporary file, with positional reads and writes
 * either way. The temporary file is unlinked as soon as it is open, so it disappears with
 * the process whatever happens to it.
 */
import { randomUUID } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { nativeOpen, nativeUnlink } from './native-fs.ts';

export class ContentBuffer {
  readonly #spillThreshold: number;
  readonly #tmpDir: string;
  #memory: Buffer = Buffer.alloc(0);
  #file: FileHandle | undefined;
  #size = 0;

  constructor(spillThresholdBytes: number, tmpDir: string) {
    this.#spillThreshold = spillThresholdBytes;
    this.#tmpDir = tmpDir;
  }

  get size(): number {
    return this.#size;
  }

  /** True once the content went to a temporary file. */
  get spilled(): boolean {
    return this.#file !== undefined;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    const end = position + data.length;
    if (this.#file === undefined && end > this.#spillThreshold) await this.#spill();
    if (this.#file !== undefined) {
      await this.#file.write(data, 0, data.length, position);
    } else {
      this.#ensureCapacity(end);
      if (position > this.#size) this.#memory.fill(0, this.#size, position);
      this.#memory.set(data, position);
    }
    this.#size = Math.max(this.#size, end);
  }

  append(data: Uint8Array): Promise<void> {
    return this.write(data, this.#size);
  }

  /** Copies up to `length` bytes from `position` into `target`; answers how many. */
  async read(target: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const count = Math.max(0, Math.min(length, this.#size - position));
    if (count === 0) return 0;
    if (this.#file !== undefined) return (await this.#file.read(target, offset, count, position)).bytesRead;
    target.set(this.#memory.subarray(position, position + count), offset);
    return count;
  }

  async truncate(length: number): Promise<void> {
    if (length > this.#size) {
      await this.write(Buffer.alloc(length - this.#size), this.#size);
      return;
    }
    if (this.#file !== undefined) await this.#file.truncate(length);
    this.#size = length;
  }

  /** The whole content as one Buffer (readFile on a handle). */
  async toBuffer(): Promise<Buffer> {
    const out = Buffer.allocUnsafe(this.#size);
    let done = 0;
    while (done < this.#size) done += await this.read(out, done, this.#size - done, done);
    return out;
  }

  /** The whole content as a stream, for an upload. */
  stream(): Readable {
    if (this.#size === 0) return Readable.from([]);
    if (this.#file === undefined) return Readable.from([this.#memory.subarray(0, this.#size)]);
    return this.#file.createReadStream({ start: 0, end: Math.max(0, this.#size - 1), autoClose: false, highWaterMark: 256 * 1024 });
  }

  async dispose(): Promise<void> {
    const file = this.#file;
    this.#file = undefined;
    this.#memory = Buffer.alloc(0);
    this.#size = 0;
    await file?.close();
  }

  #ensureCapacity(needed: number): void {
    if (needed <= this.#memory.length) return;
    const grown = Buffer.allocUnsafe(Math.min(this.#spillThreshold, Math.max(needed, this.#memory.length * 2, 64 * 1024)));
    this.#memory.copy(grown, 0, 0, this.#size);
    this.#memory = grown;
  }

  async #spill(): Promise<void> {
    const path = join(this.#tmpDir, `asya-client-${randomUUID()}`);
    const file = await nativeOpen(path, 'wx+', 0o600);
    await nativeUnlink(path);
    if (this.#size > 0) await file.write(this.#memory, 0, this.#size, 0);
    this.#file = file;
    this.#memory = Buffer.alloc(0);
  }
}
