/**
 * The key rules, in one place: decoding request paths and query values into keys,
 * refusing what the protocol refuses, and mapping keys to object names under
 * STATE_PREFIX and back. Nothing else builds or strips object names, so nothing outside
 * the prefix can be addressed.
 */
import { BadRequestError } from './errors.ts';

/** What a path after `/keys/` names: an object, or a directory (the root or a `.../` key). */
export type KeyTarget =
  | { readonly kind: 'file'; readonly key: string }
  | { readonly kind: 'directory'; readonly key: string };

const MAX_OBJECT_NAME_BYTES = 1024;
const FORBIDDEN_START = '.well-known/acme-challenge/';
// eslint-disable-next-line no-control-regex -- these control characters are what is refused
const CONTROL = /[\u0000\r\n]/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Percent-decodes one path or query component as UTF-8. Unlike URLSearchParams, `+`
 * stays a plus: keys are encoded per segment, never as form data.
 */
export function decodeComponent(raw: string, what: string): string {
  let text = raw;
  // Node hands over raw non-ASCII request-line bytes as latin1; read them back as UTF-8.
  if (/[\u0080-\uffff]/.test(raw)) {
    try {
      text = utf8.decode(Buffer.from(raw, 'latin1'));
    } catch {
      throw new BadRequestError(`${what} is not valid UTF-8; percent-encode each segment as UTF-8`);
    }
  }
  try {
    return decodeURIComponent(text);
  } catch {
    throw new BadRequestError(`${what} has invalid percent-encoding (each % must start a UTF-8 byte as %XX)`);
  }
}

/** The mapping between mount-relative keys and object names under one prefix. */
export class KeySpace {
  /** `prefix + "/"`, or empty without a prefix. */
  readonly #base: string;

  constructor(prefix: string) {
    this.#base = prefix === '' ? '' : `${prefix}/`;
  }

  /** The object name a (valid) key is stored under. */
  objectName(key: string): string {
    return this.#base + key;
  }

  /** The key of an object name, or undefined for a name outside the prefix. */
  keyOf(objectName: string): string | undefined {
    return objectName.startsWith(this.#base) ? objectName.slice(this.#base.length) : undefined;
  }

  /** Parses the still-encoded path after `/keys/` or `/meta/`. */
  parsePath(rawPath: string): KeyTarget {
    const key = decodeComponent(rawPath, 'the key');
    if (key === '') return { kind: 'directory', key: '' };
    const isDirectory = key.endsWith('/');
    this.#check(isDirectory ? key.slice(0, -1) : key, key);
    return { kind: isDirectory ? 'directory' : 'file', key };
  }

  /** Parses a path that must name a file (GET, PUT, DELETE, /meta). */
  parseFilePath(rawPath: string): string {
    const target = this.parsePath(rawPath);
    if (target.kind === 'directory') {
      throw new BadRequestError(
        target.key === ''
          ? 'a key is required after /keys/ (or /meta/)'
          : `"${target.key}" ends with "/" and so names a directory, not a file`,
      );
    }
    return target.key;
  }

  /**
   * Checks a (decoded) listing prefix. It may be empty or end in the middle of a name
   * (`logs/2024-` lists `logs/2024-01`, ...), but its complete segments follow key rules.
   */
  checkListPrefix(prefix: string): string {
    if (prefix === '') return prefix;
    if (CONTROL.test(prefix)) throw new BadRequestError('the prefix must not contain CR, LF or NUL');
    const complete = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    if (complete !== '') this.#check(complete.slice(0, -1), prefix);
    if (Buffer.byteLength(this.objectName(prefix)) > MAX_OBJECT_NAME_BYTES) {
      throw new BadRequestError(`the prefix makes an object name over ${MAX_OBJECT_NAME_BYTES} bytes`);
    }
    return prefix;
  }

  /** Refuses a key (without its directory slash) that GCS or the protocol forbids. */
  #check(body: string, key: string): void {
    const shown = JSON.stringify(key);
    if (CONTROL.test(key)) throw new BadRequestError(`key ${shown} contains CR, LF or NUL`);
    if (key.startsWith('/')) throw new BadRequestError(`key ${shown} starts with "/"; keys are relative to the mount`);
    for (const segment of body.split('/')) {
      if (segment === '') throw new BadRequestError(`key ${shown} has an empty segment ("//")`);
      if (segment === '.' || segment === '..') throw new BadRequestError(`key ${shown} has a "${segment}" segment`);
    }
    const name = this.objectName(key);
    if (Buffer.byteLength(name) > MAX_OBJECT_NAME_BYTES) {
      throw new BadRequestError(`key ${shown} makes an object name of ${Buffer.byteLength(name)} bytes; GCS allows ${MAX_OBJECT_NAME_BYTES}`);
    }
    if (name.startsWith(FORBIDDEN_START)) throw new BadRequestError(`GCS forbids object names starting with "${FORBIDDEN_START}"`);
  }
}
