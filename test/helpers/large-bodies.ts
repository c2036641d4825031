/** Large request bodies for tests: reproducible bytes, their MD5, and a GET that hashes as it streams. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

const MIB = 1024 * 1024;

/** Deterministic pseudo-random bytes, generated a piece at a time. */
export function* patternedChunks(total: number, pieceSize = MIB, seed = 0x9e3779b9): Generator<Buffer> {
  let state = seed;
  for (let sent = 0; sent < total; sent += pieceSize) {
    const piece = Buffer.alloc(Math.min(pieceSize, total - sent));
    for (let i = 0; i + 4 <= piece.length; i += 4) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      piece.writeUInt32LE(state, i);
    }
    yield piece;
  }
}

export function md5Of(pieces: Iterable<Buffer>, encoding: 'hex' | 'base64' = 'hex'): string {
  const hash = createHash('md5');
  for (const piece of pieces) hash.update(piece);
  return hash.digest(encoding);
}

/** Waits for `condition`, polling, or fails naming `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** GETs `key` through the connector, hashing as it streams. */
export function streamedGet(socketPath: string, key: string): Promise<{ status: number; length: string | undefined; bytes: number; md5: string }> {
  return new Promise((resolve, reject) => {
    httpRequest({ socketPath, path: `/keys/${key}`, agent: false }, (res) => {
      const hash = createHash('md5');
      let bytes = 0;
      res.on('data', (piece: Buffer) => { hash.update(piece); bytes += piece.length; });
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, length: res.headers['content-length'], bytes, md5: hash.digest('hex') }); });
      res.on('error', reject);
    }).on('error', reject).end();
  });
}
