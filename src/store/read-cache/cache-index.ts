/**
 * What the read cache holds on disk: one file per object (named by a hash of the object
 * name and its generation) beside a small JSON record of its metadata, an in-memory
 * index in least-recently-used order, and a byte budget that space being written counts
 * against, so the directory never holds more than the budget.
 *
 * The index survives a restart: at start the directory is scanned and every complete
 * file with its record is taken back. That is safe because no entry is ever served
 * without GCS confirming its generation first (cached-store.ts).
 */
import { createHash, randomUUID } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MemoryBudget } from '../../memory-budget.ts';
import { CACHE_ENTRY_COST } from '../../memory-costs.ts';

export interface CacheEntry {
  readonly name: string;
  readonly generation: string;
  readonly size: number;
  readonly contentType: string;
  readonly lastModified: string | undefined;
  /** MD5 of the bytes stored, base64: checked as the copy is served. */
  readonly md5Base64: string;
  /** The data file. */
  readonly path: string;
}

/** Heap bytes one index entry is charged in the memory budget (memory-costs.ts). */
const INDEX_ENTRY_BYTES = CACHE_ENTRY_COST;

/** The cache directory is not one this process may trust: not a real directory, or not its own. */
export class UnsafeCacheDirError extends Error {
  override readonly name = 'UnsafeCacheDirError';
}

export interface CacheEvents {
  readonly onEvict: (entry: CacheEntry) => void;
}

const RECORD_SUFFIX = '.json';
const TEMP_PREFIX = 'tmp-';

export class CacheIndex {
  readonly dir: string;
  readonly maxBytes: number;
  readonly #entries = new Map<string, CacheEntry>();
  readonly #events: CacheEvents;
  readonly #budget: MemoryBudget | undefined;
  /** Bytes of committed entries plus space reserved for files being written. */
  #usedBytes = 0;

  private constructor(dir: string, maxBytes: number, events: CacheEvents, budget: MemoryBudget | undefined) {
    this.dir = dir;
    this.maxBytes = maxBytes;
    this.#events = events;
    this.#budget = budget;
  }

  /**
   * Opens the cache directory: takes back complete entries, removes the other regular
   * files. The directory must be a real one (not a symlink) owned by this user; it is
   * made mode 0700. Anything in it that is not a regular file is left alone.
   */
  static async open(dir: string, maxBytes: number, events: CacheEvents, budget?: MemoryBudget): Promise<{ index: CacheIndex; restored: number; removed: number }> {
    await openOwnDirectory(dir);
    const index = new CacheIndex(dir, maxBytes, events, budget);
    const files = (await readdir(dir, { withFileTypes: true })).filter((entry) => entry.isFile()).map((entry) => entry.name);
    const restoredEntries: Array<{ entry: CacheEntry; used: number }> = [];
    const keep = new Set<string>();
    for (const file of files.filter((f) => f.endsWith(RECORD_SUFFIX))) {
      const dataFile = file.slice(0, -RECORD_SUFFIX.length);
      try {
        const record = JSON.parse(await readFile(join(dir, file), 'utf8')) as Omit<CacheEntry, 'path'>;
        const data = await lstat(join(dir, dataFile));
        if (!data.isFile() || data.size !== record.size || typeof record.md5Base64 !== 'string' || dataFile !== fileNameOf(record.name, record.generation)) continue;
        restoredEntries.push({ entry: { ...record, path: join(dir, dataFile) }, used: data.atimeMs });
        keep.add(file).add(dataFile);
      } catch {
        // An unreadable record or a missing data file: dropped below with the rest.
      }
    }
    let removed = 0;
    for (const file of files) {
      if (keep.has(file)) continue;
      await rm(join(dir, file), { force: true });
      if (!file.startsWith(TEMP_PREFIX)) removed++;
    }
    // Least recently used first, as they were.
    restoredEntries.sort((a, b) => a.used - b.used);
    let restored = 0;
    for (const { entry } of restoredEntries) {
      if (index.#entries.has(entry.name) || index.#usedBytes + entry.size > maxBytes) {
        await index.#unlink(entry);
        continue;
      }
      index.#entries.set(entry.name, entry);
      index.#usedBytes += entry.size;
      budget?.reserve(INDEX_ENTRY_BYTES, 'cache_index');
      restored++;
    }
    return { index, restored, removed };
  }

  get usedBytes(): number {
    return this.#usedBytes;
  }

  get entryCount(): number {
    return this.#entries.size;
  }

  /** The entry for `name`, marked most recently used. */
  get(name: string): CacheEntry | undefined {
    const entry = this.#entries.get(name);
    if (entry !== undefined) {
      this.#entries.delete(name);
      this.#entries.set(name, entry);
    }
    return entry;
  }

  /**
   * Reserves room for `size` bytes, evicting least recently used entries; answers a temp
   * file path to write to, or undefined when the object does not fit in the budget.
   */
  async reserve(size: number): Promise<string | undefined> {
    if (size > this.maxBytes) return undefined;
    // The entry's place in the index comes out of the memory budget; when that is full the object is not cached.
    if (this.#budget?.tryReserve(INDEX_ENTRY_BYTES, 'cache_index') === false) return undefined;
    while (this.#usedBytes + size > this.maxBytes) {
      const oldest = this.#entries.values().next();
      if (oldest.done === true) {
        this.#budget?.release(INDEX_ENTRY_BYTES, 'cache_index');
        return undefined;
      }
      await this.#drop(oldest.value, true);
    }
    this.#usedBytes += size;
    return join(this.dir, `${TEMP_PREFIX}${randomUUID()}`);
  }

  /** Gives back a reservation whose file was not completed, and removes the file. */
  async release(size: number, tempPath: string): Promise<void> {
    this.#usedBytes -= size;
    this.#budget?.release(INDEX_ENTRY_BYTES, 'cache_index');
    await rm(tempPath, { force: true });
  }

  /**
   * Makes a completely written temp file the entry for its object (replacing an older
   * one). Its record is written first, then the data file is renamed into place, so a
   * reader or a restart never sees a partial file.
   */
  async commit(tempPath: string, entry: Omit<CacheEntry, 'path'>): Promise<void> {
    const path = join(this.dir, fileNameOf(entry.name, entry.generation));
    const committed: CacheEntry = { ...entry, path };
    await writeFile(`${path}${RECORD_SUFFIX}`, JSON.stringify(entry), { mode: 0o600 });
    await rename(tempPath, path);
    const previous = this.#entries.get(entry.name);
    if (previous !== undefined) {
      this.#entries.delete(entry.name);
      this.#usedBytes -= previous.size;
      this.#budget?.release(INDEX_ENTRY_BYTES, 'cache_index');
      if (previous.path !== path) await this.#unlink(previous);
    }
    this.#entries.set(entry.name, committed);
  }

  /** Forgets `name` (its object changed or was deleted) and removes its files. */
  async invalidate(name: string): Promise<void> {
    const entry = this.#entries.get(name);
    if (entry !== undefined) await this.#drop(entry, false);
  }

  async #drop(entry: CacheEntry, evicted: boolean): Promise<void> {
    this.#entries.delete(entry.name);
    this.#usedBytes -= entry.size;
    this.#budget?.release(INDEX_ENTRY_BYTES, 'cache_index');
    if (evicted) this.#events.onEvict(entry);
    await this.#unlink(entry);
  }

  async #unlink(entry: CacheEntry): Promise<void> {
    // A reader that already opened the file keeps reading it: unlinking only removes the name.
    await rm(entry.path, { force: true });
    await rm(`${entry.path}${RECORD_SUFFIX}`, { force: true });
  }
}

/**
 * Makes `dir` if needed, then insists it is a real directory owned by this user, and makes
 * it 0700. A symlink planted in its place would otherwise make start-up delete files in
 * its target.
 */
async function openOwnDirectory(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const stats = await lstat(dir);
  const uid = process.getuid?.();
  if (!stats.isDirectory()) throw new UnsafeCacheDirError(`${dir} is not a directory (a symlink or a file); remove it or point CONNECTOR_CACHE elsewhere`);
  if (uid !== undefined && stats.uid !== uid) throw new UnsafeCacheDirError(`${dir} belongs to uid ${stats.uid}, not to this process (uid ${uid}); remove it or point CONNECTOR_CACHE elsewhere`);
  if ((stats.mode & 0o777) !== 0o700) await chmod(dir, 0o700);
}

function fileNameOf(name: string, generation: string): string {
  return `${createHash('sha256').update(name).digest('hex').slice(0, 32)}-${generation}`;
}
