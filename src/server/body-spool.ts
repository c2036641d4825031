/**
 * Receives a request body completely before anything is uploaded: up to a threshold in
 * memory, the rest in a temporary file, hashing on the way in. A body that ends early
 * (client gone, Content-Length not reached, broken chunking) or grows past the limit
 * throws, and its temporary file is removed before the error leaves this module.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BadRequestError, ConnectorError, TooLargeError, UnavailableError } from '../errors.ts';
import type { UploadSource } from '../store/object-store.ts';

export interface SpoolOptions {
  readonly memoryLimitBytes: number;
  readonly maxBytes: number;
  readonly tmpDir: string;
  /** The Content-Length the client announced, if any: fewer bytes means the body was cut. */
  readonly declaredLength: number | undefined;
}

/** A complete request body, readable any number of times until disposed. */
export interface SpooledBody extends UploadSource {
  /** True when part of the body went to a temporary file. */
  readonly spilled: boolean;
  /** Removes the temporary file, if any. Safe to call more than once. */
  dispose(): Promise<void>;
}

/** Name prefix of the spool's temporary files. */
const SPOOL_FILE_PREFIX = 'asya-upload-';

export async function spoolBody(body: AsyncIterable<Buffer>, options: SpoolOptions): Promise<SpooledBody> {
  const hash = createHash('md5');
  const memory: Buffer[] = [];
  let memoryBytes = 0;
  let total = 0;
  let file: FileHandle | undefined;
  let path: string | undefined;

  try {
    for await (const chunk of body) {
      total += chunk.length;
      if (total > options.maxBytes) throw new TooLargeError(`request body is over the ${options.maxBytes}-byte limit (CONNECTOR_MAX_BODY)`);
      hash.update(chunk);
      if (file === undefined && memoryBytes + chunk.length <= options.memoryLimitBytes) {
        memory.push(chunk);
        memoryBytes += chunk.length;
        continue;
      }
      try {
        if (file === undefined) {
          path = join(options.tmpDir, `${SPOOL_FILE_PREFIX}${randomUUID()}`);
          file = await open(path, 'wx', 0o600);
        }
        await file.write(chunk);
      } catch (error) {
        // The spool failed (disk full, directory gone), not the client: say so.
        throw new UnavailableError(`cannot spool the request body to ${options.tmpDir} (CONNECTOR_TMPDIR): ${describe(error)}; nothing was stored`, { cause: error });
      }
    }
    if (options.declaredLength !== undefined && total !== options.declaredLength) {
      throw new BadRequestError(`request body ended after ${total} of ${options.declaredLength} bytes; nothing was stored`);
    }
    await file?.close();
    file = undefined;
  } catch (error) {
    await file?.close().catch(() => undefined);
    if (path !== undefined) await rm(path, { force: true });
    if (error instanceof ConnectorError) throw error;
    throw new BadRequestError(`request body was cut short after ${total} bytes (${describe(error)}); nothing was stored`);
  }

  return completeBody(memory, memoryBytes, total, hash.digest('base64'), path);
}

function completeBody(memory: Buffer[], memoryBytes: number, size: number, md5Base64: string, path: string | undefined): SpooledBody {
  let joined: Buffer | undefined;
  const inMemory = (): Buffer => (joined ??= memory.length === 1 && memory[0] !== undefined ? memory[0] : Buffer.concat(memory, memoryBytes));
  let disposed = false;

  return {
    size,
    md5Base64,
    spilled: path !== undefined,
    open(offset) {
      if (disposed) throw new Error('spooled body used after dispose');
      if (path === undefined) return inMemory().subarray(offset);
      const filePath = path;
      const head = offset < memoryBytes ? inMemory().subarray(offset) : undefined;
      const fileStart = Math.max(0, offset - memoryBytes);
      return Readable.from((async function* () {
        if (head !== undefined && head.length > 0) yield head;
        yield* createReadStream(filePath, { start: fileStart, highWaterMark: 256 * 1024 });
      })(), { objectMode: false });
    },
    async dispose() {
      disposed = true;
      if (path !== undefined) await rm(path, { force: true });
    },
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
