/**
 * The name of a directory that belongs to one connector: connectors of different mounts
 * may share a volume (the temp dir, a cache emptyDir), and are told apart by their socket
 * path, which start-up has proved no other live process serves.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';

/** `<parent>/asya-<kind>-<16 hex digits of the socket path's SHA-256>`. */
export function socketScopedDir(parent: string, kind: string, socketPath: string): string {
  return join(parent, `asya-${kind}-${createHash('sha256').update(socketPath).digest('hex').slice(0, 16)}`);
}
