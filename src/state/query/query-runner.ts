/**
 * Runs a `/query`: lists the files under the prefix, reads the first of them several at
 * a time (through the read cache when it is on), parses and filters each as it arrives,
 * and keeps only the rows that `sort`, `offset` and `limit` can still answer. What a
 * query holds (a listing page, the files listed, documents being read, rows kept and the
 * values they sort on) stays within one reservation of the connector's memory budget,
 * taken before the query starts (`queryReadingCost`) and shrunk once the listing shows
 * what the documents need.
 */
import { isUtf8 } from 'node:buffer';
import { BadRequestError, TooLargeError } from '../../errors.ts';
import { collectAfterLargeParse } from '../../large-parse-collection.ts';
import { documentCost, keptRowCost, LISTING_PAGE_NAMES, listedFileCost, listingCost, queryListingCost } from '../../memory-costs.ts';
import type { ListedFile, StateService } from '../state-service.ts';
import { collate, fieldValue } from './json-values.ts';
import type { QueryPlan, SortKey } from './query-plan.ts';
import { readToEnd } from '../../read-to-end.ts';
import { isStoreError } from '../../store/store-error.ts';

/** A prefix with more files than this is refused (as Asya does). */
export const MAX_QUERY_FILES = 10_000;
/** Only the first this many files (in key order) are read (as Asya). */
export const MAX_QUERY_DOCUMENTS = 1_000;
/** Reading stops once this many bytes have been read (as Asya). */
export const MAX_QUERY_READ_BYTES = 256 * 1024 * 1024;

export interface QuerySettings {
  /** Documents read at once. */
  readonly reads: number;
  /** Larger files are not read (skipped): parsing costs several times a document's size. */
  readonly documentMaxBytes: number;
  /** The most one query holds: documents being read plus the rows it keeps. */
  readonly memoryBytes: number;
}

/** The query's reservation in the connector's budget, taken for `queryReadingCost` before it runs. */
export interface QueryMemory {
  /** Keeps only `bytes` of the reservation: called once the listing is in. */
  shrinkTo(bytes: number): void;
}

/**
 * What a query may hold while it reads, reserved before it starts: the files it keeps
 * from the listing, plus the larger of a listing page in flight and its documents' window
 * (the page is dropped before the first document is read).
 */
export function queryReadingCost(settings: QuerySettings): number {
  return queryListingCost(MAX_QUERY_DOCUMENTS) + Math.max(listingCost(LISTING_PAGE_NAMES), settings.memoryBytes);
}

export interface QueryOutcome {
  /** The answer's rows, in order: each the document's bytes as stored (valid UTF-8 JSON). */
  readonly rows: readonly Buffer[];
  /** Matching documents, before offset and limit. */
  readonly total: number;
  /** Files listed under the prefix. */
  readonly listed: number;
  readonly documentsRead: number;
  readonly bytesRead: number;
  /** Files not in the answer for what they are: not JSON, larger than the document limit, or deleted while the query ran. */
  readonly skipped: number;
  /** Files left unread because the query reached its caps (the first 1,000 files, 256 MiB). */
  readonly unread: number;
}

interface KeptRow {
  /** Position in the listing: the order of unsorted answers and of ties. */
  readonly index: number;
  readonly bytes: Buffer;
  readonly sortValues: readonly unknown[];
  /** What the row is charged in the query's window: keptRowCost. */
  readonly cost: number;
}

export async function runQuery(service: StateService, plan: QueryPlan, settings: QuerySettings, memory: QueryMemory, signal: AbortSignal): Promise<QueryOutcome> {
  const listing = await listUpTo(service, plan.prefix, signal);
  const selection = selectDocuments(listing.files, settings.documentMaxBytes);
  // One document's room more than the documents take, for the rows kept from them.
  const windowBytes = Math.min(settings.memoryBytes, documentCost(selection.bytes + settings.documentMaxBytes));
  memory.shrinkTo(windowBytes + heldBytes(listing.files));
  const run = new QueryRun(service, plan, selection.documents, windowBytes, signal);
  await run.readAll(settings.reads);
  return {
    rows: run.answer(),
    total: run.total,
    listed: listing.count,
    documentsRead: run.documentsRead,
    bytesRead: run.bytesRead,
    skipped: selection.skipped + run.skipped,
    unread: listing.count - listing.files.length + selection.unread,
  };
}

/** The first MAX_QUERY_DOCUMENTS files under `prefix` and how many there are; more than MAX_QUERY_FILES is refused. */
async function listUpTo(service: StateService, prefix: string, signal: AbortSignal): Promise<{ files: ListedFile[]; count: number }> {
  const files: ListedFile[] = [];
  let count = 0;
  for await (const batch of service.listFiles(prefix)) {
    signal.throwIfAborted();
    count += batch.length;
    if (count > MAX_QUERY_FILES) {
      throw new BadRequestError(`prefix ${JSON.stringify(prefix)} holds more than ${MAX_QUERY_FILES} files; a query reads at most that many, use a narrower prefix`);
    }
    for (const file of batch) if (files.length < MAX_QUERY_DOCUMENTS) files.push(file);
  }
  return { files, count };
}

/** What the listed files take while held: their keys, two bytes a character, and the entries. */
function heldBytes(files: readonly ListedFile[]): number {
  let bytes = 0;
  for (const file of files) bytes += listedFileCost(file.key.length);
  return bytes;
}

/** The files to read: in key order, those within the document limit, until MAX_QUERY_READ_BYTES have been taken. */
function selectDocuments(files: readonly ListedFile[], documentMaxBytes: number): { documents: ListedFile[]; bytes: number; skipped: number; unread: number } {
  const documents: ListedFile[] = [];
  let bytes = 0;
  let skipped = 0;
  for (const [position, file] of files.entries()) {
    if (bytes > MAX_QUERY_READ_BYTES) return { documents, bytes, skipped, unread: files.length - position };
    if (file.size > documentMaxBytes) skipped++;
    else {
      documents.push(file);
      bytes += file.size;
    }
  }
  return { documents, bytes, skipped, unread: 0 };
}

/** One query's reading: workers take documents in order while the window has room for them. */
class QueryRun {
  total = 0;
  documentsRead = 0;
  bytesRead = 0;
  skipped = 0;
  readonly #service: StateService;
  readonly #plan: QueryPlan;
  readonly #documents: readonly ListedFile[];
  readonly #windowBytes: number;
  readonly #signal: AbortSignal;
  /** Rows that offset + limit can still answer once sorted. */
  readonly #keep: number;
  #rows: KeptRow[] = [];
  #next = 0;
  #readingBytes = 0;
  #keptBytes = 0;
  /** The first failure; the other workers stop taking documents once there is one. */
  #failure: { readonly reason: unknown } | undefined;
  #roomWaiters: Array<() => void> = [];

  constructor(service: StateService, plan: QueryPlan, documents: readonly ListedFile[], windowBytes: number, signal: AbortSignal) {
    this.#service = service;
    this.#plan = plan;
    this.#documents = documents;
    this.#windowBytes = windowBytes;
    this.#signal = signal;
    this.#keep = plan.offset + plan.limit;
  }

  async readAll(reads: number): Promise<void> {
    await Promise.all(Array.from({ length: Math.min(reads, this.#documents.length) }, () => this.#work()));
    if (this.#failure !== undefined) throw this.#failure.reason;
  }

  /** The rows of the answer: sorted, then `offset` skipped and `limit` taken. */
  answer(): Buffer[] {
    this.#trim();
    return this.#rows.slice(this.#plan.offset, this.#plan.offset + this.#plan.limit).map((row) => row.bytes);
  }

  async #work(): Promise<void> {
    try {
      while (this.#failure === undefined && this.#next < this.#documents.length) {
        this.#signal.throwIfAborted();
        const index = this.#next++;
        const file = this.#documents[index] as ListedFile;
        const cost = documentCost(file.size);
        if (!await this.#room(cost)) return;
        this.#readingBytes += cost;
        try {
          const bytes = await this.#read(file);
          // Once the query failed, documents still arriving are not parsed: their trees would only be garbage.
          if (bytes !== undefined && !this.#failed()) {
            try {
              this.#consider(index, bytes);
            } finally {
              // The parsed tree is garbage now; a kept row holds only the bytes and its sort values.
              collectAfterLargeParse(bytes.length);
            }
          }
        } finally {
          this.#readingBytes -= cost;
          this.#wakeRoomWaiters();
        }
      }
    } catch (error) {
      this.#failure ??= { reason: error };
      this.#wakeRoomWaiters();
    }
  }

  /**
   * Waits until `bytes` more fit in the window: true once they do, false when the query
   * failed meanwhile. Throws when only the kept rows fill it.
   */
  async #room(bytes: number): Promise<boolean> {
    while (this.#readingBytes + this.#keptBytes + bytes > this.#windowBytes) {
      this.#trim();
      if (this.#readingBytes + this.#keptBytes + bytes <= this.#windowBytes) break;
      if (this.#failure !== undefined) return false;
      if (this.#readingBytes === 0) throw this.#rowsTooLarge();
      await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
    }
    return this.#failure === undefined;
  }

  /** Whether a worker has failed the query (read fresh: another worker may have, while this one awaited). */
  #failed(): boolean {
    return this.#failure !== undefined;
  }

  #rowsTooLarge(): TooLargeError {
    return new TooLargeError(
      `the query's rows and the values they sort on hold more than the ${this.#windowBytes} bytes a query may hold; ` +
        'ask for fewer rows with limit and offset, sort on smaller fields, or narrow the prefix or filter',
    );
  }

  #wakeRoomWaiters(): void {
    const waiters = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const wake of waiters) wake();
  }

  /** The file's bytes, or undefined when it is gone or changed past what was reserved for it. */
  async #read(file: ListedFile): Promise<Buffer | undefined> {
    let download;
    try {
      download = await this.#service.read(file.key);
    } catch (error) {
      if (!isStoreError(error, 'not_found')) throw error;
      this.skipped++;
      return undefined;
    }
    const bytes = await readToEnd(download.body, file.size);
    if (bytes === undefined) {
      // Rewritten larger since it was listed: its memory was not reserved.
      this.skipped++;
      return undefined;
    }
    this.documentsRead++;
    this.bytesRead += bytes.length;
    return bytes;
  }

  #consider(index: number, bytes: Buffer): void {
    let document: unknown;
    try {
      if (!isUtf8(bytes)) throw new Error('not UTF-8');
      document = JSON.parse(bytes.toString('utf8'));
    } catch {
      this.skipped++;
      return;
    }
    if (!this.#plan.matches(document)) return;
    this.total++;
    const sortValues = this.#plan.sort.map((key) => fieldValue(document, key.path));
    const cost = keptRowCost(bytes.length, sortValues);
    this.#rows.push({ index, bytes, sortValues, cost });
    this.#keptBytes += cost;
    if (this.#rows.length >= 2 * this.#keep || this.#keptBytes > this.#windowBytes) this.#trim();
    if (this.#keptBytes > this.#windowBytes) throw this.#rowsTooLarge();
  }

  /** Sorts the kept rows and drops those past offset + limit. */
  #trim(): void {
    this.#rows.sort(rowOrder(this.#plan.sort));
    for (const dropped of this.#rows.splice(this.#keep)) this.#keptBytes -= dropped.cost;
  }
}

/** Sort fields in turn (missing values last either way), then listing order. */
function rowOrder(sort: readonly SortKey[]): (a: KeptRow, b: KeptRow) => number {
  return (a, b) => {
    for (const [i, key] of sort.entries()) {
      const valueA = a.sortValues[i];
      const valueB = b.sortValues[i];
      if (valueA === undefined || valueB === undefined) {
        if (valueA !== valueB) return valueA === undefined ? 1 : -1;
        continue;
      }
      const order = key.descending ? collate(valueB, valueA) : collate(valueA, valueB);
      if (order !== 0) return order;
    }
    return a.index - b.index;
  };
}
