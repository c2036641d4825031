/**
 * Receives a request body completely before anything is uploaded: in memory up to a
 * threshold and while the memory budget has room, the rest in a temporary file, hashing
 * on the way in. A body that ends early
 * (client gone, Content-Length not reached, broken chunking) or grows past the limit
 * throws, and its temporary file is removed before the error leaves this module.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BadRequestError, ConnectorError, TooLargeError, UnavailableError } from '../errors.ts';
import type { MemoryBudget } from '../memory-budget.ts';
import type { UploadSource } from '../store/object-store.ts';

export interface SpoolOptions {
  /** Most bytes of one body held in memory (CONNECTOR_SPILL_THRESHOLD). */
  readonly memoryLimitBytes: number;
  /** Every byte held in memory is reserved here first; when it is full the body spills. */
  readonly budget: MemoryBudget;
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
      if (file === undefined && memoryBytes + chunk.length <= options.memoryLimitBytes && options.budget.tryReserve(chunk.length, 'body')) {
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
    options.budget.release(memoryBytes, 'body');
    await file?.close().catch(() => undefined);
    if (path !== undefined) await rm(path, { force: true });
    if (error instanceof ConnectorError) throw error;
    throw new BadRequestError(`request body was cut short after ${total} bytes (${describe(error)}); nothing was stored`);
  }

  return completeBody(memory, memoryBytes, total, hash.digest('base64'), path, options.budget);
}

function completeBody(memory: Buffer[], memoryBytes: number, size: number, md5Base64: string, path: string | undefined, budget: MemoryBudget): SpooledBody {
  let disposed = false;

  return {
    size,
    md5Base64,
    spilled: path !== undefined,
    open(offset) {
      if (disposed) throw new Error('spooled body used after dispose');
      const head = chunksFrom(memory, offset);
      if (path === undefined) return head;
      const filePath = path;
      const fileStart = Math.max(0, offset - memoryBytes);
      return Readable.from((async function* () {
        yield* head;
        yield* createReadStream(filePath, { start: fileStart, highWaterMark: 256 * 1024 });
      })(), { objectMode: false });
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      budget.release(memoryBytes, 'body');
      memory.length = 0;
      if (path !== undefined) await rm(path, { force: true });
    },
  };
}

/** The in-memory chunks from byte `offset` on, as views (no copies). */
function chunksFrom(memory: readonly Buffer[], offset: number): Buffer[] {
  const out: Buffer[] = [];
  let skip = offset;
  for (const chunk of memory) {
    if (skip >= chunk.length) {
      skip -= chunk.length;
      continue;
    }
    out.push(skip === 0 ? chunk : chunk.subarray(skip));
    skip = 0;
  }
  return out;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
