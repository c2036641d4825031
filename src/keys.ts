/**
 * The key rules, in one place: decoding request paths and query values into keys,
 * refusing what the protocol refuses, and mapping keys to object names under
 * STATE_PREFIX and back. Nothing else builds or strips object names, so nothing outside
 * the prefix can be addressed.
 */
import { BadRequestError } from './errors.ts';
import { hasControlCharacter } from './control-characters.ts';

/** What a path after `/keys/` names: an object, or a directory (the root or a `.../` key). */
export type KeyTarget =
  | { readonly kind: 'file'; readonly key: string }
  | { readonly kind: 'directory'; readonly key: string };

const MAX_OBJECT_NAME_BYTES = 1024;
const FORBIDDEN_START = '.well-known/acme-challenge/';
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
    if (hasControlCharacter(prefix)) throw new BadRequestError('the prefix must not contain control characters (U+0000-U+001F, U+007F-U+009F)');
    const complete = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    if (complete !== '') this.#check(complete.slice(0, -1), prefix);
    if (Buffer.byteLength(this.objectName(prefix)) > MAX_OBJECT_NAME_BYTES) {
      throw new BadRequestError(`the prefix makes an object name over ${MAX_OBJECT_NAME_BYTES} bytes`);
    }
    return prefix;
  }

  /**
   * The key of an object name found in a listing, or undefined when the name is outside
   * the prefix or is not a valid key (`..`, `.`, empty segments, control characters):
   * another writer on a shared bucket can plant such names, and a client joining them to
   * its mount path would reach outside it. `isDirectory` names a listing prefix (it ends
   * with the delimiter).
   */
  listedKey(objectName: string, isDirectory: boolean): string | undefined {
    const key = this.keyOf(objectName);
    if (key === undefined || key === '') return undefined;
    const body = isDirectory && key.endsWith('/') ? key.slice(0, -1) : key;
    return keyProblem(body, key) === undefined ? key : undefined;
  }

  /** Refuses a key (without its directory slash) that GCS or the protocol forbids. */
  #check(body: string, key: string): void {
    const problem = keyProblem(body, key);
    if (problem !== undefined) throw new BadRequestError(problem);
    const name = this.objectName(key);
    if (Buffer.byteLength(name) > MAX_OBJECT_NAME_BYTES) {
      throw new BadRequestError(`key ${JSON.stringify(key)} makes an object name of ${Buffer.byteLength(name)} bytes; GCS allows ${MAX_OBJECT_NAME_BYTES}`);
    }
    if (name.startsWith(FORBIDDEN_START)) throw new BadRequestError(`GCS forbids object names starting with "${FORBIDDEN_START}"`);
  }
}

/** What is wrong with a key's own shape (not its length), or undefined. */
function keyProblem(body: string, key: string): string | undefined {
  const shown = JSON.stringify(key);
  if (hasControlCharacter(key)) return `key ${shown} contains a control character (U+0000-U+001F, U+007F-U+009F)`;
  if (key.startsWith('/')) return `key ${shown} starts with "/"; keys are relative to the mount`;
  for (const segment of body.split('/')) {
    if (segment === '') return `key ${shown} has an empty segment ("//")`;
    if (segment === '.' || segment === '..') return `key ${shown} has a "${segment}" segment`;
  }
  return undefined;
}
