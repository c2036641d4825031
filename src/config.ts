/**
 * The connector's configuration: the variant from the command line, ten variables from
 * the environment (read once at start-up, checked, frozen), and fixed settings every
 * deployment shares. Nothing else in the connector reads `process.env`.
 *
 * Every variable is documented in docs/configuration.md; a missing or malformed value
 * throws a {@link ConfigError} whose message names the variable and what it expects.
 */
import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';
import { hasControlCharacter } from './control-characters.ts';

/** Which consistency policy the connector applies to writes. */
export type Variant = 'lww' | 'cas';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Config {
  /** `lww`: last write wins; `cas`: writes are conditional on the generation last observed. The image's argument. */
  readonly variant: Variant;
  /** Path of the Unix socket the connector serves on (CONNECTOR_SOCKET). */
  readonly socketPath: string;
  readonly bucket: string;
  /** Object-name prefix, without leading or trailing `/`; empty for the bucket root. */
  readonly prefix: string;
  readonly project: string | undefined;
  /** Emulator origin (`http://host:port`); when set no credentials are used for requests. */
  readonly emulatorOrigin: string | undefined;
  /** Lifetime of `signed_url` attributes, in seconds (GCS allows at most 7 days). */
  readonly presignTtlSeconds: number;
  /** Largest request body accepted; larger ones are answered 413. */
  readonly maxBodyBytes: number;
  /** Bytes the connector may hold for requests (docs/memory.md); undefined: sized from the container's limit at start. */
  readonly memoryBudgetBytes: number | undefined;
  /** TCP port for /healthz, /readyz and /metrics (probes and Prometheus cannot reach a Unix socket); undefined: off. */
  readonly opsPort: number | undefined;
  /** Address the ops port binds; undefined: every interface (kubelet probes come in on the pod IP). */
  readonly opsHost: string | undefined;
  /** The read cache, when CONNECTOR_CACHE is set (docs/read-cache.md). */
  readonly cache: { readonly dir: string; readonly maxBytes: number; readonly minObjectBytes: number } | undefined;
  /** Service-account key file (GOOGLE_APPLICATION_CREDENTIALS, Google's own variable), if one is named. */
  readonly credentialsFile: string | undefined;
  /** `host[:port]` of the metadata server credentials come from (GCE_METADATA_HOST, Google's own variable). */
  readonly metadataHost: string;

  // Fixed settings (FIXED_SETTINGS): not read from the environment; tests lower some.

  /** The GCS JSON API requests go to with credentials (STORAGE_EMULATOR_HOST, when set, wins). */
  readonly apiOrigin: string;
  /** File mode given to the socket (connecting needs write permission). */
  readonly socketMode: number;
  /** Longest wait for GCS to answer one operation, retries included; for transfers, the longest stall. */
  readonly gcsTimeoutMs: number;
  /** Attempts per GCS operation, the first included. */
  readonly gcsMaxAttempts: number;
  /** The preferred chunk of a streamed body (a multiple of 256 KiB), lowered at start until two fit in the memory budget. */
  readonly uploadChunkBytes: number;
  /** A download over twice this size is read in ranges of this size, several in flight. */
  readonly readRangeBytes: number;
  /** Ranged reads in flight per large download; 0 reads every object as one stream. */
  readonly readStreams: number;
  /** `POST /query`: documents read at once. */
  readonly queryReads: number;
  /** `POST /query`: larger files are skipped, not read (what a parse leaves resident grows with the document: docs/memory.md). */
  readonly queryDocumentMaxBytes: number;
  /** `POST /query`: the most one query holds, documents being read and rows kept; lowered to a third of the budget. */
  readonly queryMemoryBytes: number;
  /** How many keys the CAS variant remembers generations for; undefined: as many as a third of the memory budget holds. */
  readonly casMemoryKeys: number | undefined;
  /** How long SIGTERM waits for requests in flight before closing connections. */
  readonly shutdownGraceMs: number;
  readonly logLevel: LogLevel;
  /** Connections served at once on the socket; more are answered 503. */
  readonly maxConnections: number;
  /** A request body must bring at least this many bytes per second, measured over `bodyWindowMs`. */
  readonly bodyMinBytesPerSecond: number;
  /** The window of the body rate check; also the longest wait for a body's first byte. */
  readonly bodyWindowMs: number;
}

/** A configuration value is missing or malformed; `message` is one line for the operator. */
export class ConfigError extends Error {
  readonly variable: string;

  constructor(variable: string, expected: string) {
    super(`${variable} ${expected}`);
    this.variable = variable;
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;
const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, Ki: KIB, Mi: MIB, Gi: GIB, Ti: 1024 * GIB };
const MAX_PRESIGN_TTL_SECONDS = 7 * 24 * 3600;
/** Where the metadata server answers on GCE and GKE. */
const DEFAULT_METADATA_HOST = '169.254.169.254';

/** The settings every deployment shares (docs/configuration.md, "Fixed settings"). */
export const FIXED_SETTINGS = Object.freeze({
  apiOrigin: 'https://storage.googleapis.com',
  socketMode: 0o666,
  gcsTimeoutMs: 30_000,
  gcsMaxAttempts: 5,
  uploadChunkBytes: 8 * MIB,
  readRangeBytes: 3 * MIB,
  readStreams: 4,
  queryReads: 32,
  queryDocumentMaxBytes: 512 * KIB,
  queryMemoryBytes: 8 * MIB,
  casMemoryKeys: undefined,
  shutdownGraceMs: 25_000,
  logLevel: 'info',
  maxConnections: 256,
  bodyMinBytesPerSecond: 16 * KIB,
  bodyWindowMs: 30_000,
} satisfies Partial<Config>);

/** Smaller objects are not kept by the read cache: GCS serves them about as fast as the disk. */
const CACHE_MIN_OBJECT_BYTES = MIB;
const DEFAULT_CACHE_BYTES = GIB;

/**
 * Reads and checks the configuration: `variant` is the connector's first argument (each
 * image passes its own), the rest comes from `env`. Throws {@link ConfigError} on the
 * first bad value.
 */
export function loadConfig(env: Env, variant: string | undefined): Config {
  refuseObsolete(env);
  const ops = opsAddress(env, 'CONNECTOR_OPS_PORT');
  return Object.freeze({
    ...FIXED_SETTINGS,
    variant: requiredVariant(variant),
    socketPath: requiredSocketPath(env, 'CONNECTOR_SOCKET'),
    bucket: requiredBucket(env, 'STATE_BUCKET'),
    prefix: statePrefix(env, 'STATE_PREFIX'),
    project: nonEmpty(env, 'GCS_PROJECT'),
    emulatorOrigin: optionalOrigin(env, 'STORAGE_EMULATOR_HOST', 'http://127.0.0.1:4443'),
    presignTtlSeconds: integer(env, 'STATE_PRESIGN_TTL', 3600, 1, MAX_PRESIGN_TTL_SECONDS, 'seconds'),
    maxBodyBytes: size(env, 'CONNECTOR_MAX_BODY', 5 * GIB, 1),
    memoryBudgetBytes: nonEmpty(env, 'CONNECTOR_MEMORY_BUDGET') === undefined ? undefined : size(env, 'CONNECTOR_MEMORY_BUDGET', 0, 8 * MIB),
    opsPort: ops?.port,
    opsHost: ops?.host,
    cache: readCache(env, 'CONNECTOR_CACHE'),
    credentialsFile: optionalAbsolutePath(env, 'GOOGLE_APPLICATION_CREDENTIALS'),
    metadataHost: nonEmpty(env, 'GCE_METADATA_HOST') ?? nonEmpty(env, 'GCE_METADATA_IP') ?? DEFAULT_METADATA_HOST,
  });
}

const FIXED = 'now a fixed setting (docs/configuration.md, "Fixed settings")';

/** Variables earlier versions read that no longer do anything, and what became of them. */
const OBSOLETE_VARIABLES: Readonly<Record<string, string>> = {
  CONNECTOR_VARIANT: 'each image passes its variant as the first argument; a variant is chosen by image, not by variable',
  CONNECTOR_CACHE_DIR: 'renamed CONNECTOR_CACHE, which takes <dir> or <dir>:<size>, e.g. /var/cache/asya-state:2Gi',
  CONNECTOR_CACHE_MAX_BYTES: 'the cache size is part of CONNECTOR_CACHE, e.g. /var/cache/asya-state:2Gi',
  CONNECTOR_CACHE_MIN_OBJECT: FIXED,
  CONNECTOR_OPS_HOST: 'the address is part of CONNECTOR_OPS_PORT, e.g. 127.0.0.1:9464',
  CONNECTOR_UPLOAD_STREAMS: 'parallel uploads were removed; every large body streams through one resumable upload',
  CONNECTOR_UPLOAD_CHUNK: `${FIXED}, lowered to fit the memory budget`,
  CONNECTOR_READ_RANGE: FIXED,
  CONNECTOR_READ_STREAMS: FIXED,
  CONNECTOR_QUERY_READS: FIXED,
  CONNECTOR_QUERY_MEMORY: `${FIXED}, lowered to fit the memory budget`,
  CONNECTOR_QUERY_DOCUMENT_MAX: FIXED,
  CONNECTOR_CAS_MEMORY_KEYS: 'the CAS memory is sized from the memory budget; raise CONNECTOR_MEMORY_BUDGET (or the container limit) for more keys',
  CONNECTOR_SOCKET_MODE: FIXED,
  CONNECTOR_SHUTDOWN_GRACE_MS: FIXED,
  CONNECTOR_LOG_LEVEL: FIXED,
  CONNECTOR_MAX_CONNECTIONS: FIXED,
  CONNECTOR_BODY_MIN_RATE: FIXED,
  CONNECTOR_BODY_WINDOW_MS: FIXED,
  GCS_TIMEOUT_MS: FIXED,
  GCS_MAX_ATTEMPTS: FIXED,
  GCS_ENDPOINT: 'the connector talks to storage.googleapis.com; for Private Service Connect or a restricted VIP, resolve that name to your endpoint with a private DNS zone (Google\'s documented setup)',
  CONNECTOR_SPILL_THRESHOLD: 'request bodies are no longer spooled to disk',
  CONNECTOR_TMPDIR: 'request bodies are no longer spooled to disk; the connector needs no spool volume',
  CONNECTOR_UPLOAD_PARTS_PREFIX: 'parallel uploads were removed',
  GCS_RESUMABLE_THRESHOLD: 'bodies larger than one upload chunk stream through a resumable upload',
};

/** A variable that no longer has an effect stops start-up: a setting silently ignored would mislead its operator. */
function refuseObsolete(env: Env): void {
  for (const [name, instead] of Object.entries(OBSOLETE_VARIABLES)) {
    if (nonEmpty(env, name) !== undefined) throw new ConfigError(name, `is no longer read (${instead}); remove it from the environment`);
  }
}

function nonEmpty(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function requiredVariant(value: string | undefined): Variant {
  if (value === 'lww' || value === 'cas') return value;
  throw new ConfigError('the variant', value === undefined
    ? 'is required as the first argument: "lww" (last write wins) or "cas" (compare-and-set); each image passes its own'
    : `(the first argument) must be "lww" or "cas", got ${JSON.stringify(value)}`);
}

function requiredSocketPath(env: Env, name: string): string {
  const value = nonEmpty(env, name);
  if (value === undefined) {
    throw new ConfigError(name, 'is required: the Unix socket path to serve on, e.g. /var/run/asya/state/weights.sock');
  }
  if (!isAbsolute(value)) throw new ConfigError(name, `must be an absolute path, got ${JSON.stringify(value)}`);
  // sun_path holds 108 bytes on Linux, the terminating NUL included.
  if (Buffer.byteLength(value) > 107) throw new ConfigError(name, 'must be at most 107 bytes long (the Unix socket path limit)');
  return value;
}

// GCS bucket names: 3-63 characters (up to 222 with dots, 63 per dot-separated part),
// lowercase letters, digits, '-', '_' and '.', starting and ending with a letter or digit.
const BUCKET_NAME = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;

function requiredBucket(env: Env, name: string): string {
  const value = nonEmpty(env, name);
  if (value === undefined) throw new ConfigError(name, 'is required: the name of an existing GCS bucket (the connector never creates buckets)');
  const partsOk = value.split('.').every((part) => part.length > 0 && part.length <= 63);
  if (!BUCKET_NAME.test(value) || !partsOk || (!value.includes('.') && value.length > 63) || value.startsWith('goog')) {
    throw new ConfigError(name, `must be a valid GCS bucket name (3-63 lowercase letters, digits, "-", "_" or "."), got ${JSON.stringify(value)}`);
  }
  return value;
}

function statePrefix(env: Env, name: string): string {
  const raw = env[name] ?? '';
  const trimmed = raw.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return '';
  const bad = trimmed.split('/').find((segment) => segment === '' || segment === '.' || segment === '..');
  if (bad !== undefined || hasControlCharacter(trimmed)) {
    throw new ConfigError(name, `must be "/"-separated names without empty, "." or ".." parts or control characters, got ${JSON.stringify(raw)}`);
  }
  if (Buffer.byteLength(trimmed) > 512) throw new ConfigError(name, 'must be at most 512 bytes long (GCS object names are at most 1024)');
  return trimmed;
}

/** An http(s) origin without a path; "host:port" without a scheme is plain HTTP, as Google's SDKs take it. */
function optionalOrigin(env: Env, name: string, example: string): string | undefined {
  const value = nonEmpty(env, name);
  if (value === undefined) return undefined;
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new ConfigError(name, `must be a URL such as ${example}, got ${JSON.stringify(value)}`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || (url.pathname !== '/' && url.pathname !== '')) {
    throw new ConfigError(name, `must be an http(s) origin without a path, such as ${example}, got ${JSON.stringify(value)}`);
  }
  return url.origin;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number, unit: string): number {
  const value = nonEmpty(env, name);
  if (value === undefined) return fallback;
  const parsed = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw new ConfigError(name, `must be a whole number of ${unit} from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return parsed;
}

function size(env: Env, name: string, fallback: number, min: number): number {
  const value = nonEmpty(env, name);
  if (value === undefined) return fallback;
  const bytes = parseSize(value);
  if (!(bytes >= min)) {
    throw new ConfigError(name, `must be a size in bytes of at least ${min}, optionally with a Ki, Mi, Gi or Ti suffix (e.g. 4Mi), got ${JSON.stringify(value)}`);
  }
  return bytes;
}

/** `4Mi` as 4194304; NaN when not a size. */
function parseSize(text: string): number {
  const match = /^(\d+)(Ki|Mi|Gi|Ti)?$/.exec(text);
  const bytes = match?.[1] === undefined ? Number.NaN : Number(match[1]) * (SIZE_UNITS[match[2] ?? ''] ?? Number.NaN);
  return Number.isSafeInteger(bytes) ? bytes : Number.NaN;
}

/** `<dir>` or `<dir>:<size>`: the read cache's directory and the most it may hold there. */
function readCache(env: Env, name: string): Config['cache'] {
  const value = nonEmpty(env, name);
  if (value === undefined) return undefined;
  const sized = /^(.*):([^:/]+)$/.exec(value);
  const dir = sized?.[1] ?? value;
  const maxBytes = sized?.[2] === undefined ? DEFAULT_CACHE_BYTES : parseSize(sized[2]);
  if (!isAbsolute(dir) || !(maxBytes >= MIB)) {
    throw new ConfigError(name, `must be an absolute directory, optionally with the most it may hold (at least 1Mi), e.g. /var/cache/asya-state or /var/cache/asya-state:2Gi, got ${JSON.stringify(value)}`);
  }
  return { dir, maxBytes, minObjectBytes: CACHE_MIN_OBJECT_BYTES };
}

/** `<port>` or `<address>:<port>` (`[::1]:9464` for IPv6): where the ops port listens. */
function opsAddress(env: Env, name: string): { port: number; host: string | undefined } | undefined {
  const value = nonEmpty(env, name);
  if (value === undefined) return undefined;
  const match = /^(?:\[([^\]]+)\]:|([^:]+):)?(\d{1,5})$/.exec(value);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (match === null || !(port >= 1 && port <= 65_535) || (host !== undefined && isIP(host) === 0)) {
    throw new ConfigError(name, `must be a TCP port (1 to 65535), optionally after the IP address to bind, e.g. 9464, 127.0.0.1:9464 or [::1]:9464, got ${JSON.stringify(value)}`);
  }
  return { port, host };
}

function optionalAbsolutePath(env: Env, name: string): string | undefined {
  const value = nonEmpty(env, name);
  if (value !== undefined && !isAbsolute(value)) throw new ConfigError(name, `must be an absolute file path, got ${JSON.stringify(value)}`);
  return value;
}

