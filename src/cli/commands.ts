/**
 * The CLI's commands, on top of the client library: each takes its parsed arguments and a
 * client, writes its output, and throws the client's fs errors (main.ts turns them into
 * exit codes).
 */
import { createReadStream as localReadStream } from 'node:fs';
import { stat as localStat } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { once } from 'node:events';
import type { StateQuery } from '../client/protocol-client.ts';
import { StateFsError } from '../client/fs-errors.ts';
import type { StateClient } from '../client/state-client.ts';
import { ProgressBar, wantProgress } from './progress.ts';

export interface Output {
  readonly stdout: Writable;
}

/** Prints a query's answer as one JSON line, and what the connector left out to stderr. */
export async function query(client: StateClient, request: StateQuery, out: Output & { readonly stderr: Writable }): Promise<void> {
  const result = await client.query(request);
  out.stdout.write(`${JSON.stringify({ rows: result.rows, total: result.total })}\n`);
  if (result.skipped > 0) out.stderr.write(`asya-state: ${result.skipped} file(s) under the prefix were not JSON, too large, or deleted meanwhile, and are not in the answer\n`);
  if (result.unread > 0) out.stderr.write(`asya-state: ${result.unread} file(s) were left unread (the connector reads the first 1000 files, at most 256 MiB); narrow the prefix for a complete answer\n`);
}

export async function ls(client: StateClient, path: string, options: { long: boolean; recursive: boolean; json: boolean }, out: Output): Promise<void> {
  const base = posix.resolve(client.mountPath, path);
  const entries = await client.readdir(path, { withFileTypes: true, recursive: options.recursive });
  // The library lists a missing directory as empty (directories are implicit); a person asked for one that exists.
  if (entries.length === 0 && client.keyOf(path) !== '') await client.stat(path);
  const rows: Array<{ name: string; type: 'file' | 'directory'; size?: number; modified?: string }> = [];
  for (const entry of entries) {
    const name = posix.relative(base, posix.join(entry.parentPath, entry.name));
    if (entry.isDirectory()) rows.push({ name: `${name}/`, type: 'directory' });
    else if (!options.long) rows.push({ name, type: 'file' });
    else {
      const stats = await client.stat(posix.join(entry.parentPath, entry.name));
      rows.push({ name, type: 'file', size: stats.size, modified: stats.mtime.toISOString() });
    }
  }
  if (options.json) {
    out.stdout.write(`${JSON.stringify(rows)}\n`);
    return;
  }
  for (const row of rows) {
    if (!options.long) out.stdout.write(`${printable(row.name)}\n`);
    else out.stdout.write(`${row.type === 'file' ? 'file' : 'dir '} ${(row.size === undefined ? '-' : readableSize(row.size)).padStart(7)} ${(row.modified ?? '-').padEnd(24)} ${printable(row.name)}\n`);
  }
}

/** A size as `ls -lh` shows it: bytes below 1 KiB, then K, M, G, T with one decimal under 10. */
export function readableSize(bytes: number): string {
  if (bytes < 1024) return String(bytes);
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value).toString()}${'BKMGT'[unit] ?? ''}`;
}

export async function cat(client: StateClient, key: string, options: { progress: boolean | undefined }, out: Output): Promise<void> {
  const source = client.createReadStream(key);
  // The download's own length sizes the bar: no separate stat request.
  await once(source, 'ready');
  const total = source.size;
  if (wantProgress(options.progress, total)) await pipeline(source, new ProgressBar(`cat ${key}`, total), out.stdout, { end: false });
  else await pipeline(source, out.stdout, { end: false });
}

export async function put(
  client: StateClient,
  key: string,
  file: string | undefined,
  options: { contentType: string | undefined; create: boolean; ifMatch: string | undefined; progress: boolean | undefined },
  stdin: Readable,
): Promise<void> {
  const total = file === undefined || file === '-' ? undefined : (await localStat(file)).size;
  const source = file === undefined || file === '-' ? stdin : localReadStream(file);
  const target = client.createWriteStream(key, {
    flags: options.create ? 'wx' : 'w',
    ...(options.contentType === undefined ? {} : { contentType: options.contentType }),
    ...(options.ifMatch === undefined ? {} : { ifMatch: options.ifMatch }),
  });
  if (wantProgress(options.progress, total)) await pipeline(source, new ProgressBar(`put ${key}`, total), target);
  else await pipeline(source, target);
}

export async function rm(client: StateClient, key: string, options: { recursive: boolean; force: boolean }): Promise<void> {
  // ".", "dir/..", "/" and "" all name the mount itself: `rm -r` there would empty it.
  if (client.keyOf(key) === '') {
    throw new StateFsError('EINVAL', 'rm', key, 'names the whole mount; refusing to remove everything in it (name a directory or a file)');
  }
  try {
    await client.rm(key, options);
  } catch (error) {
    if (error instanceof StateFsError && error.code === 'EISDIR' && !options.recursive) {
      throw new StateFsError('EISDIR', 'rm', error.path, 'a directory; use rm -r to remove it and everything under it');
    }
    throw error;
  }
}

export async function stat(client: StateClient, key: string, options: { json: boolean }, out: Output): Promise<void> {
  const stats = await client.stat(key).catch((error: unknown) => withReason(client, key, error));
  const facts = {
    key,
    type: stats.isFile() ? 'file' : 'directory',
    size: stats.size,
    ...(stats.isFile() ? { modified: stats.mtime.toISOString(), generation: stats.generation, content_type: stats.contentType } : {}),
  };
  if (options.json) {
    out.stdout.write(`${JSON.stringify(facts)}\n`);
    return;
  }
  for (const [name, value] of Object.entries(facts)) out.stdout.write(`${`${name}:`.padEnd(14)}${String(value)}\n`);
}

/**
 * A HEAD answer has no body, so a failed stat cannot say why; when the connector failed
 * (5xx), one attribute read fetches its message, and that error is shown instead.
 */
async function withReason(client: StateClient, key: string, error: unknown): Promise<never> {
  if (!(error instanceof StateFsError) || (error.status ?? 0) < 500) throw error;
  try {
    await client.getxattr(key, 'generation');
  } catch (explained) {
    if (explained instanceof StateFsError && (explained.status ?? 0) >= 500) throw explained;
  }
  throw error;
}

export async function xattr(client: StateClient, action: string, key: string, rest: readonly string[], out: Output): Promise<void> {
  if (action === 'list') {
    for (const name of await client.listxattr(key)) out.stdout.write(`${name}\n`);
  } else if (action === 'get') {
    out.stdout.write(`${await client.getxattr(key, rest[0] ?? '')}\n`);
  } else {
    await client.setxattr(key, rest[0] ?? '', rest[1] ?? '');
  }
}

// eslint-disable-next-line no-control-regex -- control characters are what is escaped
const NON_PRINTABLE = /[\u0000-\u001f\u007f-\u009f\\]/g;

/** A name as a terminal may show it: control characters (and the backslash) escaped as \xNN. */
export function printable(name: string): string {
  return name.replace(NON_PRINTABLE, (c) => (c === '\\' ? '\\\\' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}
