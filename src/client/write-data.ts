/** The kinds of data `writeFile` accepts, as Node's does, turned into bytes. */

export type WritableData = string | Uint8Array | DataView | Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>;

/** Yields `data` as byte chunks. */
export async function* toBytes(data: WritableData, encoding: BufferEncoding): AsyncGenerator<Uint8Array> {
  if (typeof data === 'string') {
    yield Buffer.from(data, encoding);
    return;
  }
  if (data instanceof Uint8Array) {
    yield data;
    return;
  }
  if (data instanceof DataView) {
    yield new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return;
  }
  for await (const chunk of data) yield typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
}

/** The bytes at once when they are already in memory (no copy); undefined for iterables and streams. */
export function inMemoryBytes(data: WritableData, encoding: BufferEncoding): Buffer | undefined {
  if (typeof data === 'string') return Buffer.from(data, encoding);
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof DataView) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}
