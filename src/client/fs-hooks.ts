/**
 * Transparent mode: `node:fs`, `node:fs/promises` and fs streams, unchanged in handler
 * code, reach the connector for paths under a state mount. Other paths go to the real
 * file system untouched. Calls the mounts cannot support (rename, links, permissions,
 * descriptor-based `fs.open`) throw ENOTSUP on mount paths instead of silently touching
 * the local disk. Synchronous calls work through a worker thread ({@link SyncBridge}).
 */
import { isUtf8 } from 'node:buffer';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StateFileHandle } from './file-handle.ts';
import { StateFsError } from './fs-errors.ts';
import { DEFAULT_SOCKET_DIR, mountOf, parseMounts, type StateMount } from './mounts.ts';
import { StateClient } from './state-client.ts';
import { SyncBridge } from './sync-bridge.ts';

export interface StateHooksOptions {
  /** Mounts, as a specification string or parsed. Default `ASYA_STATE_PROXY_MOUNTS`. */
  readonly mounts?: string | readonly StateMount[];
  /** Directory of the connector sockets. Default `ASYA_STATE_PROXY_SOCKET_DIR`, else /var/run/asya/state. */
  readonly socketDir?: string;
  /** Longest wait for a connector without progress, ms. Default 30000. */
  readonly timeoutMs?: number;
}

export interface InstalledStateHooks {
  readonly mounts: readonly StateMount[];
  /** The client serving `path`, if it is on a mount. */
  clientFor(path: string): StateClient | undefined;
  /** Restores the original fs functions and closes the clients. */
  uninstall(): void;
}

type AnyFunction = (...args: unknown[]) => unknown;
type Routed = { readonly mount: StateMount; readonly client: StateClient; readonly path: string };

/** Calls with the same name in `fs.promises`, callback `fs` and (with `Sync`) synchronous `fs`. */
const SUPPORTED = ['readFile', 'writeFile', 'appendFile', 'readdir', 'stat', 'lstat', 'access', 'unlink', 'rm', 'rmdir', 'mkdir', 'realpath'] as const;
type SupportedCall = (typeof SUPPORTED)[number];
/** Path-taking calls with no meaning on object storage. */
const UNSUPPORTED = [
  'rename', 'copyFile', 'cp', 'link', 'symlink', 'readlink', 'chmod', 'chown', 'lchown', 'utimes', 'lutimes', 'truncate', 'opendir', 'mkdtemp', 'mkdtempDisposable', 'statfs',
  'openAsBlob', 'glob', 'watch', 'watchFile',
] as const;
/** Calls whose second argument is a path too. */
const TWO_PATHS = new Set<string>(['rename', 'copyFile', 'cp', 'link', 'symlink']);

let installed: InstalledStateHooks | undefined;

/** Finds the mount and client of a path argument; undefined for paths off the mounts. */
type Router = (path: unknown) => Routed | undefined;
/** Makes the replacement of an fs function from the original. */
type Wrap = (original: AnyFunction) => AnyFunction;

/** Installs the hooks for every mount; throws if they are already installed or the mounts are invalid. */
export function installStateHooks(options: StateHooksOptions = {}): InstalledStateHooks {
  if (installed !== undefined) throw new Error('state fs hooks are already installed; uninstall() them first');
  const socketDir = options.socketDir ?? process.env.ASYA_STATE_PROXY_SOCKET_DIR ?? DEFAULT_SOCKET_DIR;
  const mountSpec = options.mounts ?? process.env.ASYA_STATE_PROXY_MOUNTS ?? '';
  const mounts = typeof mountSpec === 'string' ? parseMounts(mountSpec, socketDir) : mountSpec;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const clients = new Map(mounts.map((mount) => [mount.name, StateClient.forMount(mount, timeoutMs)]));
  const bridge = new SyncBridge(mounts, timeoutMs);
  const route = router(mounts, clients);
  const promises = fs.promises as unknown as Record<string, unknown>;
  const patches = new FsPatches(promises);

  for (const name of SUPPORTED) {
    patches.replace(promises, name, promiseCall(name, route));
    patches.replace(fs, name, callbackCall(name, route));
    patches.replace(fs, `${name}Sync`, syncCall(name, route, bridge));
  }
  patches.replace(promises, 'open', promiseOpen(route));
  patches.replace(fs, 'exists', callbackExists(route));
  patches.replace(fs, 'existsSync', syncExists(route, bridge));
  patches.replace(fs, 'createReadStream', stream(route, (client, path, options) => client.createReadStream(path, options)));
  patches.replace(fs, 'createWriteStream', stream(route, (client, path, options) => client.createWriteStream(path, options)));
  for (const name of UNSUPPORTED) {
    const paths = TWO_PATHS.has(name) ? 2 : 1;
    for (const [target, call] of [[promises, name], [fs, name], [fs, `${name}Sync`]] as const) patches.replace(target, call, refusal(call, paths, route));
  }
  patches.replace(fs, 'open', refusal('open', 1, route));
  patches.replace(fs, 'openSync', refusal('openSync', 1, route));

  syncBuiltinESMExports();
  const hooks: InstalledStateHooks = {
    mounts,
    clientFor: (path) => route(path)?.client,
    uninstall() {
      patches.restoreAll();
      syncBuiltinESMExports();
      bridge.close();
      for (const client of clients.values()) client.close();
      installed = undefined;
    },
  };
  installed = hooks;
  return hooks;
}

/** The replaced fs functions and how to put the originals back. */
class FsPatches {
  readonly #promises: object;
  readonly #restore: Array<() => void> = [];

  constructor(promises: object) {
    this.#promises = promises;
  }

  /**
   * Replaces `target[name]` (when it exists) by `wrap(original)`, reporting errors as that
   * call does (callStyle). A `native` variant hung on the original (`fs.realpath.native`,
   * `fs.realpathSync.native`) is wrapped the same way and hung on the replacement.
   */
  replace(target: object, name: string, wrap: Wrap): void {
    const holder = target as Record<string, unknown>;
    const original = holder[name];
    if (typeof original !== 'function') return;
    const style = callStyle(target === this.#promises, name);
    const replacement = failingInStyle(wrap(original as AnyFunction), style) as AnyFunction & { native?: AnyFunction };
    const native = (original as { native?: unknown }).native;
    if (typeof native === 'function') replacement.native = failingInStyle(wrap(native as AnyFunction), style);
    holder[name] = replacement;
    this.#restore.push(() => { holder[name] = original; });
  }

  restoreAll(): void {
    for (const undo of this.#restore.reverse()) undo();
    this.#restore.length = 0;
  }
}

function router(mounts: readonly StateMount[], clients: ReadonlyMap<string, StateClient>): Router {
  return (path) => {
    if (mounts.length === 0) return undefined;
    let text: string;
    if (typeof path === 'string') text = path;
    else if (path instanceof URL) {
      if (path.protocol !== 'file:') return undefined;
      text = fileURLToPath(path);
    } else if (Buffer.isBuffer(path)) {
      text = path.toString('utf8');
      if (!isUtf8(path)) {
        // The lossy decoding would store a U+FFFD name; refuse a path that lands on a mount.
        if (mountOf(mounts, resolve(text)) !== undefined) throw new StateFsError('EINVAL', 'open', resolve(text), 'the path is not valid UTF-8; object names are UTF-8');
        return undefined;
      }
    } else return undefined;
    const absolute = resolve(text);
    const mount = mountOf(mounts, absolute);
    const client = mount === undefined ? undefined : clients.get(mount.name);
    return mount === undefined || client === undefined ? undefined : { mount, client, path: absolute };
  };
}

/** `fs.promises[name]`: the client's method of the same name. */
function promiseCall(name: SupportedCall, route: Router): Wrap {
  return (original) => function (this: unknown, ...args: unknown[]) {
    if (name === 'readFile' && args[0] instanceof StateFileHandle) return args[0].readFile(args[1] as BufferEncoding);
    const routed = route(args[0]);
    if (routed === undefined) return original.apply(this, args);
    return (routed.client[name] as AnyFunction).apply(routed.client, [routed.path, ...args.slice(1)]);
  };
}

/** `fs[name]` with an error-first callback. */
function callbackCall(name: SupportedCall, route: Router): Wrap {
  return (original) => function (this: unknown, ...args: unknown[]) {
    const routed = route(args[0]);
    if (routed === undefined) return original.apply(this, args);
    const callback = args.at(-1);
    if (typeof callback !== 'function') throw new TypeError(`fs.${name}: the last argument must be a callback`);
    const rest = args.slice(1, -1);
    void ((routed.client[name] as AnyFunction).apply(routed.client, [routed.path, ...rest]) as Promise<unknown>)
      .then((value) => { process.nextTick(callback, null, value); }, (error: unknown) => { process.nextTick(callback, error); });
    return undefined;
  };
}

/** `fs[name + 'Sync']`, through the worker thread. */
function syncCall(name: SupportedCall, route: Router, bridge: SyncBridge): Wrap {
  return (original) => function (this: unknown, ...args: unknown[]) {
    const routed = route(args[0]);
    if (routed === undefined) return original.apply(this, args);
    return bridge.call(routed.mount.name, name, [routed.path, ...args.slice(1)]);
  };
}

function promiseOpen(route: Router): Wrap {
  return (original) => function (this: unknown, ...args: unknown[]) {
    const routed = route(args[0]);
    if (routed === undefined) return original.apply(this, args);
    return routed.client.open(routed.path, ...(args.slice(1) as [string | number | undefined]));
  };
}

/** `fs.exists`: a callback with one boolean, never an error. */
function callbackExists(route: Router): Wrap {
  return (original) => function (this: unknown, ...args: unknown[]) {
    const routed = route(args[0]);
    if (routed === undefined) return original.apply(this, args);
    const callback = args[1] as (exists: boolean) => void;
    void routed.client.exists(routed.path).then((exists) => { callback(exists); }, () => { callback(false); });
    return undefined;
  };
}

function syncExists(route: Router, bridge: SyncBridge): Wrap {
  return (original) => function (this: unknown, ...args: unknown[]) {
    const routed = route(args[0]);
    if (routed === undefined) return original.apply(this, args);
    try {
      return bridge.call(routed.mount.name, 'exists', [routed.path]);
    } catch {
      return false;
    }
  };
}

function stream(route: Router, open: (client: StateClient, path: string, options: BufferEncoding) => unknown): Wrap {
  return (original) => function (this: unknown, ...args: unknown[]) {
    const routed = route(args[0]);
    if (routed === undefined) return original.apply(this, args);
    return open(routed.client, routed.path, args[1] as BufferEncoding);
  };
}

/** A call with no meaning on a mount: ENOTSUP when any of its first `paths` arguments is on one. */
function refusal(name: string, paths: number, route: Router): Wrap {
  const call = name.replace(/Sync$/, '');
  return (original) => function (this: unknown, ...args: unknown[]) {
    for (let i = 0; i < paths; i++) {
      const routed = route(args[i]);
      if (routed !== undefined) {
        throw new StateFsError('ENOTSUP', call, routed.path, `${call} is not available on a state mount (object storage has no ${call === 'open' ? 'file descriptors; use fs.promises.open' : 'such operation'})`);
      }
    }
    return original.apply(this, args);
  };
}

type CallStyle = 'promise' | 'iterator' | 'callback' | 'sync';

/** Calls outside `fs.promises` that answer a promise. */
const PROMISING = new Set(['openAsBlob']);
/** Calls that answer an object at once (a watcher, a stream) or have no error-first callback, so they throw. */
const THROWING = new Set(['watch', 'watchFile', 'exists', 'createReadStream', 'createWriteStream']);

/**
 * How a replaced call reports failure: `fs.promises` reject (their `glob` and `watch`
 * answer async iterators, which fail on the first step), callback calls pass the error
 * to the callback, the rest throw.
 */
function callStyle(isPromises: boolean, name: string): CallStyle {
  if (isPromises) return name === 'glob' || name === 'watch' ? 'iterator' : 'promise';
  if (PROMISING.has(name)) return 'promise';
  return name.endsWith('Sync') || THROWING.has(name) ? 'sync' : 'callback';
}

/** Wraps `fn` so a StateFsError thrown before it could start (a path it refuses) arrives the way its kind of call reports errors. */
function failingInStyle(fn: AnyFunction, style: CallStyle): AnyFunction {
  if (style === 'sync') return fn;
  return function (this: unknown, ...args: unknown[]) {
    try {
      return fn.apply(this, args);
    } catch (error) {
      if (!(error instanceof StateFsError)) throw error;
      if (style === 'promise') return Promise.reject(error);
      if (style === 'iterator') return failingIterator(error);
      const callback = args.at(-1);
      if (typeof callback !== 'function') throw error;
      process.nextTick(callback, error);
      return undefined;
    }
  };
}

/** An async iterable whose first step fails with `error`. */
function failingIterator(error: Error): AsyncIterable<never> {
  return {
    [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(error) }),
  };
}
