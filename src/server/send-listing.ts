/**
 * Writes a whole listing as one JSON answer, `{"keys":[...],"prefixes":[...]}`, batch by
 * batch as the pages come, waiting for the client to take each before the next page is
 * fetched: a listing of any size holds about one page in memory. A listing that ends
 * within the first SMALL_LISTING_CHARS goes out whole with a Content-Length, as before;
 * a longer one streams chunked. The first batch is fetched before the status goes out,
 * so a failure there is an ordinary error answer; a failure later cuts the connection
 * (the client sees invalid JSON, never a short listing that parses).
 */
import type { ServerResponse } from 'node:http';
import { ClientAbortedError } from '../errors.ts';
import type { ListBatch } from '../state/state-service.ts';

/** Listings shorter than this (in JSON characters) are sent whole, with a length. */
const SMALL_LISTING_CHARS = 256 * 1024;

/** Streams `batches` into `res`; the caller reserved the memory of one page in flight (memory-costs.ts). */
export async function sendListing(res: ServerResponse, batches: AsyncGenerator<ListBatch>): Promise<void> {
  const out = new ListingWriter(res);
  let inPrefixes = false;
  let first = true;
  out.add('{"keys":[');
  try {
    for (let next = await batches.next(); next.done !== true; next = await batches.next()) {
      const batch = next.value;
      if (batch.prefixes !== undefined && !inPrefixes) {
        inPrefixes = true;
        first = true;
        out.add('],"prefixes":[');
      }
      const names = batch.keys ?? batch.prefixes;
      if (names.length === 0) continue;
      out.add(`${first ? '' : ','}${JSON.stringify(names).slice(1, -1)}`);
      first = false;
      await out.flushIfLarge();
    }
  } finally {
    await batches.return(undefined);
  }
  out.end(inPrefixes ? ']}' : '],"prefixes":[]}');
}

/** Holds the answer's start until it is large, then streams with backpressure. */
class ListingWriter {
  readonly #res: ServerResponse;
  #held: string[] = [];
  #heldChars = 0;
  #streaming = false;

  constructor(res: ServerResponse) {
    this.#res = res;
  }

  add(text: string): void {
    this.#held.push(text);
    this.#heldChars += text.length;
  }

  async flushIfLarge(): Promise<void> {
    if (!this.#streaming && this.#heldChars < SMALL_LISTING_CHARS) return;
    if (!this.#streaming) {
      this.#streaming = true;
      this.#res.statusCode = 200;
      this.#res.setHeader('content-type', 'application/json');
    }
    const text = this.#held.join('');
    this.#held = [];
    this.#heldChars = 0;
    await write(this.#res, text);
  }

  end(tail: string): void {
    this.add(tail);
    const text = this.#held.join('');
    if (!this.#streaming) {
      this.#res.statusCode = 200;
      this.#res.setHeader('content-type', 'application/json');
      this.#res.setHeader('content-length', Buffer.byteLength(text));
    }
    this.#res.end(text);
  }
}

/** Writes `text`, waiting while the client is behind; rejects when the client has gone. */
function write(res: ServerResponse, text: string): Promise<void> {
  if (res.destroyed) return Promise.reject(new ClientAbortedError('the client went away during the listing'));
  if (res.write(text)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onDrain = (): void => { res.off('close', onClose); resolve(); };
    const onClose = (): void => { res.off('drain', onDrain); reject(new ClientAbortedError('the client went away during the listing')); };
    res.once('drain', onDrain).once('close', onClose);
  });
}
