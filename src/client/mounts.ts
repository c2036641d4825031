/**
 * The state mounts of an actor, from `ASYA_STATE_PROXY_MOUNTS`
 * (`name:/path:write=buffered,cas=off;other:/path2:write=passthrough`), and which mount a
 * path belongs to.
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

/** Option keys this client knows; others are ignored with a warning, as the Asya runtime ignores them. */
const KNOWN_OPTIONS = 'write=buffered|passthrough, socket=/absolute.sock, cas=on|off';
/** Unknown option keys already warned about: once per process is enough. */
const warnedOptions = new Set<string>();

function warnOnce(key: string, entry: string): void {
  if (warnedOptions.has(key)) return;
  warnedOptions.add(key);
  process.emitWarning(`state mount ${JSON.stringify(entry)}: option ${JSON.stringify(key)} is not known here and is ignored (known: ${KNOWN_OPTIONS})`, { code: 'ASYA_STATE_MOUNT_OPTION' });
}

/**
 * Parses a mounts specification as the Asya runtime does: mounts separated by `;`, each
 * `name:/absolute/path:options`, the options comma-separated `key=value` pairs with
 * spaces around them allowed (`meta:/state/meta:write=buffered,cache=no`). Known keys:
 * `write=buffered|passthrough`, `socket=/path.sock`, `cas=on|off`; unknown keys are ignored
 * with one warning each. Options may also be separated by `:` (this client's earlier
 * form). Throws with what to fix.
 */
export function parseMounts(spec: string, socketDir: string = DEFAULT_SOCKET_DIR, warn: (key: string, entry: string) => void = warnOnce): StateMount[] {
  const mounts: StateMount[] = [];
  for (const entry of spec.split(';').map((part) => part.trim()).filter((part) => part !== '')) {
    const nameEnd = entry.indexOf(':');
    const pathEnd = entry.indexOf(':', nameEnd + 1);
    const name = nameEnd < 0 ? entry : entry.slice(0, nameEnd);
    const path = nameEnd < 0 ? '' : entry.slice(nameEnd + 1, pathEnd < 0 ? undefined : pathEnd);
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) throw new Error(`state mount ${JSON.stringify(entry)}: the name must be letters, digits, '_', '.' or '-' (format name:/path:write=buffered)`);
    if (!posix.isAbsolute(path)) throw new Error(`state mount ${JSON.stringify(entry)}: the path must be absolute (format name:/path:write=buffered)`);
    let writeMode: StateMount['writeMode'] = 'buffered';
    let socketPath = posix.join(socketDir, `${name}.sock`);
    let compareAndSet = true;
    for (const [key, value] of options(pathEnd < 0 ? '' : entry.slice(pathEnd + 1))) {
      if (key === 'write' && (value === 'buffered' || value === 'passthrough')) writeMode = value;
      else if (key === 'socket' && posix.isAbsolute(value)) socketPath = value;
      else if (key === 'cas' && (value === 'on' || value === 'off')) compareAndSet = value === 'on';
      else if (key === 'write' || key === 'socket' || key === 'cas') throw new Error(`state mount ${JSON.stringify(entry)}: ${key}=${JSON.stringify(value)} is not a valid value; known: ${KNOWN_OPTIONS}`);
      else warn(key, entry);
    }
    const normalized = posix.resolve(path);
    if (normalized === '/') throw new Error(`state mount ${JSON.stringify(entry)}: mounting over / would send every path to the connector`);
    if (mounts.some((other) => other.name === name)) throw new Error(`state mount name ${JSON.stringify(name)} appears twice`);
    if (mounts.some((other) => other.path === normalized)) throw new Error(`state mount path ${normalized} appears twice`);
    mounts.push({ name, path: normalized, socketPath, writeMode, compareAndSet });
  }
  return mounts;
}

/** The `key=value` pairs of a mount's options; a piece without `=` is ignored, as the runtime does. */
function options(text: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const piece of text.split(/,|:(?=\s*[A-Za-z_][\w-]*\s*=)/)) {
    const eq = piece.indexOf('=');
    if (eq >= 0) pairs.push([piece.slice(0, eq).trim(), piece.slice(eq + 1).trim()]);
  }
  return pairs;
}

/** The mount `absolutePath` is in (the longest matching mount path wins), if any. */
export function mountOf<M extends { readonly path: string }>(mounts: readonly M[], absolutePath: string): M | undefined {
  let best: M | undefined;
  for (const mount of mounts) {
    if ((absolutePath === mount.path || absolutePath.startsWith(`${mount.path}/`)) && (best === undefined || mount.path.length > best.path.length)) best = mount;
  }
  return best;
}
