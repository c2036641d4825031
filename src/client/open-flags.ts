/**
 * `open()` flags (`'r'`, `'wx+'`, `fs.constants.O_*` numbers) as what they mean for a
 * whole-object store.
 */
import { constants } from 'node:fs';

export interface OpenMode {
  readonly readable: boolean;
  readonly writable: boolean;
  /** Start empty instead of from the stored object. */
  readonly truncate: boolean;
  /** Every write goes to the end: read-and-rewrite on close. */
  readonly append: boolean;
  /** Create only if absent. */
  readonly exclusive: boolean;
  /** A missing file is created (otherwise ENOENT). */
  readonly create: boolean;
}

const STRING_FLAGS: Readonly<Record<string, OpenMode>> = (() => {
  const mode = (readable: boolean, writable: boolean, truncate: boolean, append: boolean, exclusive: boolean, create: boolean): OpenMode =>
    ({ readable, writable, truncate, append, exclusive, create });
  const table: Record<string, OpenMode> = {};
  const add = (names: string[], value: OpenMode): void => { for (const name of names) table[name] = value; };
  add(['r', 'rs', 'sr'], mode(true, false, false, false, false, false));
  add(['r+', 'rs+', 'sr+'], mode(true, true, false, false, false, false));
  add(['w'], mode(false, true, true, false, false, true));
  add(['wx', 'xw'], mode(false, true, true, false, true, true));
  add(['w+'], mode(true, true, true, false, false, true));
  add(['wx+', 'xw+'], mode(true, true, true, false, true, true));
  add(['a', 'as', 'sa'], mode(false, true, false, true, false, true));
  add(['ax', 'xa'], mode(false, true, false, true, true, true));
  add(['a+', 'as+', 'sa+'], mode(true, true, false, true, false, true));
  add(['ax+', 'xa+'], mode(true, true, false, true, true, true));
  return table;
})();

/** The mode for `flags`, or undefined when they are not valid open flags. */
export function parseOpenFlags(flags: string | number): OpenMode | undefined {
  if (typeof flags === 'string') return STRING_FLAGS[flags];
  if (!Number.isInteger(flags) || flags < 0) return undefined;
  const access = flags & (constants.O_RDONLY | constants.O_WRONLY | constants.O_RDWR);
  if (access !== constants.O_RDONLY && access !== constants.O_WRONLY && access !== constants.O_RDWR) return undefined;
  return {
    readable: access !== constants.O_WRONLY,
    writable: access !== constants.O_RDONLY,
    truncate: (flags & constants.O_TRUNC) !== 0,
    append: (flags & constants.O_APPEND) !== 0,
    exclusive: (flags & constants.O_EXCL) !== 0 && (flags & constants.O_CREAT) !== 0,
    create: (flags & constants.O_CREAT) !== 0,
  };
}
