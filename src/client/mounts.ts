/**
 * The state mounts of an actor, from `ASYA_STATE_PROXY_MOUNTS`
 * (`name:/path:write=buffered;other:/path2`), and which mount a path belongs to.
 */
import { posix } from 'node:path';

export interface StateMount {
  /** The mount's name; its socket is `<socketDir>/<name>.sock` unless `socket=` says otherwise. */
  readonly name: string;
  /** Absolute, normalized, without a trailing slash. */
  readonly path: string;
  readonly socketPath: string;
  readonly writeMode: 'buffered' | 'passthrough';
  /** `cas=off` turns the client's If-Match off for this mount. */
  readonly compareAndSet: boolean;
}

/** Where Asya pods put connector sockets. */
export const DEFAULT_SOCKET_DIR = '/var/run/asya/state';

/**
 * Parses a mounts specification. Each mount is `name:/absolute/path` followed by optional
 * `:key=value` fields: `write=buffered|passthrough`, `socket=/path.sock`, `cas=on|off`.
 * Throws with what to fix.
 */
export function parseMounts(spec: string, socketDir: string = DEFAULT_SOCKET_DIR): StateMount[] {
  const mounts: StateMount[] = [];
  for (const entry of spec.split(';').map((part) => part.trim()).filter((part) => part !== '')) {
    const [name = '', path = '', ...fields] = entry.split(':');
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) throw new Error(`state mount ${JSON.stringify(entry)}: the name must be letters, digits, '_', '.' or '-' (format name:/path[:write=buffered])`);
    if (!posix.isAbsolute(path)) throw new Error(`state mount ${JSON.stringify(entry)}: the path must be absolute (format name:/path[:write=buffered])`);
    let writeMode: StateMount['writeMode'] = 'buffered';
    let socketPath = posix.join(socketDir, `${name}.sock`);
    let compareAndSet = true;
    for (const field of fields) {
      const [key, value = ''] = field.split('=', 2);
      if (key === 'write' && (value === 'buffered' || value === 'passthrough')) writeMode = value;
      else if (key === 'socket' && posix.isAbsolute(value)) socketPath = value;
      else if (key === 'cas' && (value === 'on' || value === 'off')) compareAndSet = value === 'on';
      else throw new Error(`state mount ${JSON.stringify(entry)}: unknown field ${JSON.stringify(field)}; known: write=buffered|passthrough, socket=/absolute.sock, cas=on|off`);
    }
    const normalized = posix.resolve(path);
    if (normalized === '/') throw new Error(`state mount ${JSON.stringify(entry)}: mounting over / would send every path to the connector`);
    if (mounts.some((other) => other.name === name)) throw new Error(`state mount name ${JSON.stringify(name)} appears twice`);
    if (mounts.some((other) => other.path === normalized)) throw new Error(`state mount path ${normalized} appears twice`);
    mounts.push({ name, path: normalized, socketPath, writeMode, compareAndSet });
  }
  return mounts;
}

/** The mount `absolutePath` is in (the longest matching mount path wins), if any. */
export function mountOf<M extends { readonly path: string }>(mounts: readonly M[], absolutePath: string): M | undefined {
  let best: M | undefined;
  for (const mount of mounts) {
    if ((absolutePath === mount.path || absolutePath.startsWith(`${mount.path}/`)) && (best === undefined || mount.path.length > best.path.length)) best = mount;
  }
  return best;
}
