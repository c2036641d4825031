/**
 * What `stat` and `readdir({ withFileTypes: true })` answer for a state mount: shaped
 * like Node's `fs.Stats` and `fs.Dirent`, built from plain data so that the synchronous
 * bridge can send them between threads.
 */

/** The plain facts behind a {@link StateStats}. */
export interface StatsData {
  readonly kind: 'file' | 'directory';
  readonly size: number;
  /** Last modification (GCS `updated`), ms since the epoch; 0 when unknown (directories). */
  readonly mtimeMs: number;
  /** The GCS generation of a file. */
  readonly generation?: string;
  readonly contentType?: string;
}

/** The `is…()` checks of `fs.Stats` and `fs.Dirent`: only files and directories exist on a mount. */
abstract class KindChecks {
  readonly #kind: 'file' | 'directory';

  protected constructor(kind: 'file' | 'directory') {
    this.#kind = kind;
  }

  protected get kind(): 'file' | 'directory' { return this.#kind; }
  isFile(): boolean { return this.#kind === 'file'; }
  isDirectory(): boolean { return this.#kind === 'directory'; }
  isSymbolicLink(): boolean { return false; }
  isBlockDevice(): boolean { return false; }
  isCharacterDevice(): boolean { return false; }
  isFIFO(): boolean { return false; }
  isSocket(): boolean { return false; }
}

const FILE_MODE = 0o100644;
const DIRECTORY_MODE = 0o040755;

/** `fs.Stats`-like: the size, times and kind; ownership and inode fields are zero. */
export class StateStats extends KindChecks {
  readonly size: number;
  readonly mode: number;
  readonly mtimeMs: number;
  readonly atimeMs: number;
  readonly ctimeMs: number;
  readonly birthtimeMs: number;
  readonly mtime: Date;
  readonly atime: Date;
  readonly ctime: Date;
  readonly birthtime: Date;
  readonly dev = 0;
  readonly ino = 0;
  readonly nlink = 1;
  readonly uid = 0;
  readonly gid = 0;
  readonly rdev = 0;
  readonly blksize = 4096;
  readonly blocks: number;
  /** GCS generation of a file (its ETag without quotes); undefined for directories. */
  readonly generation: string | undefined;
  readonly contentType: string | undefined;

  constructor(data: StatsData) {
    super(data.kind);
    this.size = data.size;
    this.mode = data.kind === 'file' ? FILE_MODE : DIRECTORY_MODE;
    this.mtimeMs = this.atimeMs = this.ctimeMs = this.birthtimeMs = data.mtimeMs;
    this.mtime = new Date(data.mtimeMs);
    this.atime = new Date(data.mtimeMs);
    this.ctime = new Date(data.mtimeMs);
    this.birthtime = new Date(data.mtimeMs);
    this.blocks = Math.ceil(data.size / 512);
    this.generation = data.generation;
    this.contentType = data.contentType;
  }

  /** The plain data, for sending across threads. */
  toData(): StatsData {
    return {
      kind: this.kind,
      size: this.size,
      mtimeMs: this.mtimeMs,
      ...(this.generation === undefined ? {} : { generation: this.generation }),
      ...(this.contentType === undefined ? {} : { contentType: this.contentType }),
    };
  }
}

/** The plain facts behind a {@link StateDirent}. */
export interface DirentData {
  readonly name: string;
  readonly parentPath: string;
  readonly kind: 'file' | 'directory';
}

/** `fs.Dirent`-like entry of a listing. */
export class StateDirent extends KindChecks {
  readonly name: string;
  readonly parentPath: string;
  /** Same as `parentPath` (the older name Node still offers). */
  readonly path: string;

  constructor(data: DirentData) {
    super(data.kind);
    this.name = data.name;
    this.parentPath = data.parentPath;
    this.path = data.parentPath;
  }

  toData(): DirentData {
    return { name: this.name, parentPath: this.parentPath, kind: this.kind };
  }
}
