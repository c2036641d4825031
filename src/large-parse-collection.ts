/**
 * The connector's one forced garbage collection, and its one switch: it runs only when
 * node was started with `--expose-gc`, as the image and `npm start` do.
 *
 * Why it is needed: a query parses its body (up to a MiB) and reads and parses documents
 * of up to a MiB each. What that leaves behind (the joined bytes, the decoded text, which Node keeps outside the
 * JavaScript heap past about a MiB, and the parsed tree) is garbage that V8 collects on
 * its own schedule, and mostly outside the heap's own limit, so `--max-old-space-size`
 * does not bound it. docs/memory.md ("Forced collection") shows the run: four queries
 * sorting five 1 MiB documents peaked well over the 128 MiB limit without it, under it
 * with it. Nothing else in the connector forces a collection.
 */

/** JSON at least this large is followed by a collection once parsed. */
const LARGE_JSON_BYTES = 256 * 1024;

type Collect = (options: { type: 'major'; execution: 'async' }) => Promise<void>;

const collect = (globalThis as { gc?: Collect }).gc;

/** Starts a full collection (incremental, off the request's path) after `bytes` of JSON were parsed, when they are many and the switch is on. */
export function collectAfterLargeParse(bytes: number): void {
  if (collect === undefined || bytes < LARGE_JSON_BYTES) return;
  void collect({ type: 'major', execution: 'async' }).catch(() => undefined);
}
