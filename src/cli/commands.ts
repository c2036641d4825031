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

export async function ls(client: StateClient, path: string, options: { long: boolean; recursive: boolean }, out: Output): Promise<void> {
  const base = posix.resolve(client.mountPath, path);
  for (const entry of await client.readdir(path, { withFileTypes: true, recursive: options.recursive })) {
    const full = posix.join(entry.parentPath, entry.name);
    const relative = printable(posix.relative(base, full));
    if (!options.long) {
      out.stdout.write(`${relative}${entry.isDirectory() ? '/' : ''}\n`);
    } else if (entry.isDirectory()) {
      out.stdout.write(`dir  ${'-'.padStart(12)} ${'-'.padEnd(24)} ${relative}/\n`);
    } else {
      const stats = await client.stat(full);
      out.stdout.write(`file ${String(stats.size).padStart(12)} ${stats.mtime.toISOString().padEnd(24)} ${relative}\n`);
    }
  }
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
  options: { contentType: string | undefined; create: boolean; progress: boolean | undefined },
  stdin: Readable,
): Promise<void> {
  const total = file === undefined || file === '-' ? undefined : (await localStat(file)).size;
  const source = file === undefined || file === '-' ? stdin : localReadStream(file);
  const target = client.createWriteStream(key, {
    flags: options.create ? 'wx' : 'w',
    ...(options.contentType === undefined ? {} : { contentType: options.contentType }),
  });
  if (wantProgress(options.progress, total)) await pipeline(source, new ProgressBar(`put ${key}`, total), target);
  else await pipeline(source, target);
}

export async function rm(client: StateClient, key: string, options: { recursive: boolean; force: boolean }): Promise<void> {
  await client.rm(key, options);
}

export async function stat(client: StateClient, key: string, options: { json: boolean }, out: Output): Promise<void> {
  const stats = await client.stat(key);
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
