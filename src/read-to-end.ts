/**
 * The one way the connector, and its client, read a stream whole into memory: only where
 * a small answer is expected (a request body, a JSON answer, a query's document), and
 * always under a cap.
 */

/**
 * Reads `stream` to its end and joins it; answers undefined, having stopped reading (which
 * destroys a Node stream), once it passes `maxBytes`.
 */
export async function readToEnd(stream: AsyncIterable<Buffer>, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > maxBytes) return undefined;
    chunks.push(chunk);
  }
  return chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks, size);
}
