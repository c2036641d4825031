/**
 * The large buffers one transfer reuses: the chunks of a streamed upload, the ranges of a
 * parallel download. Data that waits in memory (a chunk until GCS has it, a range until
 * its turn) is copied into these rather than kept as the socket's own read buffers: a
 * read buffer then dies young and is reclaimed at once, and the transfer's few pool
 * buffers serve all its chunks or ranges. Kept as the socket's buffers, waiting data
 * outlived several young-generation collections and lingered as garbage until a full one
 * (docs/memory.md).
 *
 * A pool belongs to one transfer and is dropped with it.
 */
export class BufferPool {
  readonly bufferBytes: number;
  readonly #free: Buffer[] = [];

  constructor(bufferBytes: number) {
    this.bufferBytes = bufferBytes;
  }

  /** A buffer of `bufferBytes`, its content undefined: a free one, or a new one. */
  take(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(this.bufferBytes);
  }

  /** Gives back a buffer from `take`, for the next `take`; nothing else may use it afterwards. */
  give(buffer: Buffer): void {
    this.#free.push(buffer);
  }
}
