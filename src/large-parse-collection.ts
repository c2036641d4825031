/**
 * The connector's one forced garbage collection, and its one switch: it runs only when
 * node was started with `--expose-gc`, as the image and `npm start` do.
 *
 * Why it is needed: a query parses its body (up to a MiB) and reads and parses documents
 * of up to a MiB each. What that leaves behind (the joined bytes, the decoded text, which
 * Node keeps outside the JavaScript heap past about a MiB, and the parsed tree) is garbage
 * that V8 collects on its own schedule, and mostly outside the heap's own limit, so
 * `--max-old-space-size` does not bound it. docs/memory.md ("Forced collection") shows the
 * runs. Nothing else in the connector forces a collection.
 *
 * Why at once, not in a task: V8's `execution: 'async'` is the same full, stop-the-world
 * collection, run from a task later; by then other documents may have been parsed and
 * their garbage piled up. Run at once, it costs the same pause and finds one parse's
 * garbage. Callers run it once the parsed tree is no longer referenced.
 */

/** JSON at least this large is followed by a collection once its parsed tree is dropped. */
const LARGE_JSON_BYTES = 256 * 1024;

const collect = (globalThis as { gc?: (options: { type: 'major'; execution: 'sync' }) => void }).gc;

/** Collects the garbage `bytes` of parsed JSON left, when they are many and the switch is on. */
export function collectAfterLargeParse(bytes: number): void {
  if (collect === undefined || bytes < LARGE_JSON_BYTES) return;
  collect({ type: 'major', execution: 'sync' });
}
