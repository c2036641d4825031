/**
 * The seed's counter handler, for Node: read the counter, add one, write it back. Plain
 * node:fs, no retry logic; the fs hooks send it to the connector, and compare-and-set
 * turns a lost race into EEXIST, after which the handler runs again from a fresh read.
 */
import { readFile, writeFile } from 'node:fs/promises';

export const COUNTER_PATH = '/state/counter/result.json';

export async function handler<T>(payload: T): Promise<T> {
  let count = 0;
  try {
    count = (JSON.parse(await readFile(COUNTER_PATH, 'utf8')) as { count: number }).count;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await writeFile(COUNTER_PATH, JSON.stringify({ count: count + 1 }));
  return payload;
}
