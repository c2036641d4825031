/**
 * The one way the connector, and its client, read a stream whole into memory: in the
 * connector only where a small answer is expected (a request body, a JSON answer, a
 * query's document), and always under a cap.
 */

/**
 * Reads `stream` to its end and joins it; answers undefined, having stopped reading (which
 * destroys a Node stream), once it passes `maxBytes`. Without `maxBytes` (the client's
 * readFile, which asked for the whole file) it always answers the bytes.
 */
export async function readToEnd(stream: AsyncIterable<Buffer>): Promise<Buffer>;
export async function readToEnd(stream: AsyncIterable<Buffer>, maxBytes: number): Promise<Buffer | undefined>;
export async function readToEnd(stream: AsyncIterable<Buffer>, maxBytes = Number.POSITIVE_INFINITY): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > maxBytes) return undefined;
    chunks.push(chunk);
  }
  return chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks, size);
}
