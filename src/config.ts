/**
 * The connector's configuration: read from the environment once at start-up, checked,
 * and frozen. Nothing else in the connector reads `process.env`.
 *
 * Every variable is documented in the README (Configuration); a missing or malformed value
 * throws a {@link ConfigError} whose message names the variable and what it expects.
 */
import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';
import { documentCost } from './memory-costs.ts';
import { hasControlCharacter } from './control-characters.ts';

/** Which consistency policy the connector applies to writes. */
export type Variant = 'lww' | 'cas';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Config {
  /** `lww`: last write wins; `cas`: writes are conditional on the generation last observed. */
  readonly variant: Variant;
  /** Path of the Unix socket the connector serves on. */
  readonly socketPath: string;
  /** File mode given to the socket (connecting needs write permission). */
  readonly socketMode: number;
  readonly bucket: string;
  /** Object-name prefix, without leading or trailing `/`; empty for the bucket root. */
  readonly prefix: string;
  readonly project: string | undefined;
  /** Service-account key file (GOOGLE_APPLICATION_CREDENTIALS), if one is named. */
  readonly credentialsFile: string | undefined;
  /** Emulator origin (`http://host:port`); when set no credentials are used for requests. */
  readonly emulatorOrigin: string | undefined;
  /**
   * The GCS JSON API origin requests go to with real credentials (`GCS_ENDPOINT`: Private
   * Service Connect, a restricted VIP); undefined means storage.googleapis.com, or the
   * emulator's when there is one.
   */
  readonly endpoint: string | undefined;
  /** `host[:port]` of the metadata server credentials come from (GCE_METADATA_HOST, as google-auth-library reads it). */
  readonly metadataHost: string;
  /** Lifetime of `signed_url` attributes, in seconds (GCS allows at most 7 days). */
  readonly presignTtlSeconds: number;
  /** Longest wait for GCS to answer one operation, retries included; for transfers, the longest stall. */
  readonly gcsTimeoutMs: number;
  /** Attempts per GCS operation, the first included (1 turns retries off). */
  readonly gcsMaxAttempts: number;
  /**
   * A body up to this size is uploaded whole in one request; a larger one streams into a
   * resumable upload in chunks of this size (a multiple of 256 KiB), at most two in memory.
   */
  readonly uploadChunkBytes: number;
  /**
   * Chunks of a body announced longer than one chunk that upload side by side, each as a
   * temporary part object composed into the object at the end; 1 streams every body
   * through one resumable session.
   */
  readonly uploadStreams: number;
  /** A download over twice this size is read in ranges of this size, several in flight. */
  readonly readRangeBytes: number;
  /** Ranged reads in flight per large download; 0 reads every object as one stream. */
  readonly readStreams: number;
  /** Largest request body accepted; larger ones are answered 413. */
  readonly maxBodyBytes: number;
  /** `POST /query`: documents read at once. */
  readonly queryReads: number;
  /** `POST /query`: larger files are skipped, not read (parsing costs several times their size). */
  readonly queryDocumentMaxBytes: number;
  /** `POST /query`: the most one query holds, documents being read and rows kept. */
  readonly queryMemoryBytes: number;
  /** How many keys the CAS variant remembers generations for. */
  readonly casMemoryKeys: number;
  /** How long SIGTERM waits for requests in flight before closing connections. */
  readonly shutdownGraceMs: number;
  readonly logLevel: LogLevel;
  /** The read cache, when CONNECTOR_CACHE_DIR is set (docs/read-cache.md). */
  readonly cache: { readonly dir: string; readonly maxBytes: number; readonly minObjectBytes: number } | undefined;
  /** TCP port for /healthz, /readyz and /metrics (probes and Prometheus cannot reach a Unix socket); undefined: off. */
  readonly opsPort: number | undefined;
  /** Address the ops port binds; undefined: every interface (kubelet probes come in on the pod IP). */
  readonly opsHost: string | undefined;
  /** Bytes the connector may hold for requests (docs/memory.md); undefined: sized from the container's limit at start. */
  readonly memoryBudgetBytes: number | undefined;
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

/** Reads and checks the configuration; throws {@link ConfigError} on the first bad value. */
export function loadConfig(env: Env): Config {
  refuseObsolete(env);
  const emulatorOrigin = optionalOrigin(env, 'STORAGE_EMULATOR_HOST', 'http://127.0.0.1:4443');
  const config: Config = {
    variant: requiredVariant(env, 'CONNECTOR_VARIANT'),
    socketPath: requiredSocketPath(env, 'CONNECTOR_SOCKET'),
    socketMode: fileMode(env, 'CONNECTOR_SOCKET_MODE', 0o666),
    bucket: requiredBucket(env, 'STATE_BUCKET'),
    prefix: statePrefix(env, 'STATE_PREFIX'),
    project: nonEmpty(env, 'GCS_PROJECT'),
    credentialsFile: optionalAbsolutePath(env, 'GOOGLE_APPLICATION_CREDENTIALS'),
    emulatorOrigin,
    endpoint: optionalOrigin(env, 'GCS_ENDPOINT', 'https://storage-example.p.googleapis.com'),
    metadataHost: nonEmpty(env, 'GCE_METADATA_HOST') ?? nonEmpty(env, 'GCE_METADATA_IP') ?? DEFAULT_METADATA_HOST,
    presignTtlSeconds: integer(env, 'STATE_PRESIGN_TTL', 3600, 1, MAX_PRESIGN_TTL_SECONDS, 'seconds'),
    gcsTimeoutMs: integer(env, 'GCS_TIMEOUT_MS', 30_000, 100, 3_600_000, 'milliseconds'),
    gcsMaxAttempts: integer(env, 'GCS_MAX_ATTEMPTS', 5, 1, 20, 'attempts'),
    uploadChunkBytes: sizeBetween(env, 'CONNECTOR_UPLOAD_CHUNK', 8 * MIB, UPLOAD_CHUNK_UNIT, 256 * MIB, UPLOAD_CHUNK_UNIT),
    uploadStreams: integer(env, 'CONNECTOR_UPLOAD_STREAMS', 1, 1, 16, 'parts uploading at once'),
    readRangeBytes: sizeBetween(env, 'CONNECTOR_READ_RANGE', 3 * MIB, 256 * KIB, 256 * MIB),
    readStreams: integer(env, 'CONNECTOR_READ_STREAMS', 4, 0, 16, 'ranged reads'),
    maxBodyBytes: size(env, 'CONNECTOR_MAX_BODY', 5 * GIB, 1),
    queryReads: integer(env, 'CONNECTOR_QUERY_READS', 32, 1, 64, 'documents'),
    queryDocumentMaxBytes: sizeBetween(env, 'CONNECTOR_QUERY_DOCUMENT_MAX', MIB, KIB, 16 * MIB),
    queryMemoryBytes: sizeBetween(env, 'CONNECTOR_QUERY_MEMORY', 8 * MIB, 64 * KIB, 256 * MIB),
    casMemoryKeys: integer(env, 'CONNECTOR_CAS_MEMORY_KEYS', 100_000, 1, 10_000_000, 'keys'),
    shutdownGraceMs: integer(env, 'CONNECTOR_SHUTDOWN_GRACE_MS', 25_000, 0, 3_600_000, 'milliseconds'),
    logLevel: logLevel(env, 'CONNECTOR_LOG_LEVEL'),
    cache: nonEmpty(env, 'CONNECTOR_CACHE_DIR') === undefined ? undefined : {
      dir: absolutePath(env, 'CONNECTOR_CACHE_DIR', ''),
      maxBytes: size(env, 'CONNECTOR_CACHE_MAX_BYTES', GIB, MIB),
      minObjectBytes: size(env, 'CONNECTOR_CACHE_MIN_OBJECT', MIB, 0),
    },
    opsPort: nonEmpty(env, 'CONNECTOR_OPS_PORT') === undefined ? undefined : integer(env, 'CONNECTOR_OPS_PORT', 0, 1, 65_535, 'a TCP port'),
    opsHost: ipAddress(env, 'CONNECTOR_OPS_HOST'),
    memoryBudgetBytes: nonEmpty(env, 'CONNECTOR_MEMORY_BUDGET') === undefined ? undefined : size(env, 'CONNECTOR_MEMORY_BUDGET', 0, 8 * MIB),
    maxConnections: integer(env, 'CONNECTOR_MAX_CONNECTIONS', 256, 1, 65_536, 'connections'),
    bodyMinBytesPerSecond: size(env, 'CONNECTOR_BODY_MIN_RATE', 16 * KIB, 0),
    bodyWindowMs: integer(env, 'CONNECTOR_BODY_WINDOW_MS', 30_000, 100, 3_600_000, 'milliseconds'),
  };
  if (config.endpoint !== undefined && config.emulatorOrigin !== undefined) {
    throw new ConfigError('GCS_ENDPOINT', 'and STORAGE_EMULATOR_HOST are both set: the emulator takes no credentials, GCS_ENDPOINT is GCS with them; set one');
  }
  if (config.endpoint?.startsWith('http:') === true && !isLoopbackOrigin(config.endpoint)) {
    throw new ConfigError('GCS_ENDPOINT', `(${config.endpoint}) is plain http to another host: the connector would send its access token in clear; use https (an emulator without credentials is STORAGE_EMULATOR_HOST)`);
  }
  if (documentCost(config.queryDocumentMaxBytes) > config.queryMemoryBytes) {
    throw new ConfigError('CONNECTOR_QUERY_DOCUMENT_MAX', `(${sizeLabel(config.queryDocumentMaxBytes)}) must be at most a sixth of CONNECTOR_QUERY_MEMORY (${sizeLabel(config.queryMemoryBytes)}): reading and parsing a document takes about six times its size`);
  }
  return Object.freeze(config);
}

/** Variables earlier versions read that no longer do anything, and what replaced them. */
const OBSOLETE_VARIABLES: Readonly<Record<string, string>> = {
  CONNECTOR_SPILL_THRESHOLD: 'request bodies are no longer spooled to disk; see CONNECTOR_UPLOAD_CHUNK and CONNECTOR_MEMORY_BUDGET',
  CONNECTOR_TMPDIR: 'request bodies are no longer spooled to disk; the connector needs no spool volume',
  CONNECTOR_UPLOAD_PARTS_PREFIX: 'temporary parts of parallel uploads live in <STATE_PREFIX>/.asya-upload-parts/, a folder no key maps to',
  GCS_RESUMABLE_THRESHOLD: 'bodies larger than CONNECTOR_UPLOAD_CHUNK stream through a resumable upload',
};

/** A variable that no longer has an effect stops start-up: a setting silently ignored would mislead its operator. */
function refuseObsolete(env: Env): void {
  for (const [name, instead] of Object.entries(OBSOLETE_VARIABLES)) {
    if (nonEmpty(env, name) !== undefined) throw new ConfigError(name, `is no longer read (${instead}); remove it from the environment`);
  }
}

/** GCS takes resumable upload chunks in multiples of this. */
export const UPLOAD_CHUNK_UNIT = 256 * KIB;

/** A size from `min` to `max` (and a multiple of `unit`), with a message naming the bounds. */
function sizeBetween(env: Env, name: string, fallback: number, min: number, max: number, unit = 1): number {
  const bytes = size(env, name, fallback, 1);
  if (bytes < min || bytes > max || bytes % unit !== 0) {
    const multiple = unit === 1 ? 'a size' : `a multiple of ${sizeLabel(unit)}`;
    throw new ConfigError(name, `must be ${multiple} from ${sizeLabel(min)} to ${sizeLabel(max)}, e.g. ${sizeLabel(fallback)}, got ${JSON.stringify(env[name])}`);
  }
  return bytes;
}

/** `262144` as `256Ki`, for messages. */
function sizeLabel(bytes: number): string {
  const unit = bytes % MIB === 0 ? 'Mi' : 'Ki';
  return `${bytes / (unit === 'Mi' ? MIB : KIB)}${unit}`;
}

function nonEmpty(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function requiredVariant(env: Env, name: string): Variant {
  const value = nonEmpty(env, name);
  if (value === 'lww' || value === 'cas') return value;
  throw new ConfigError(name, value === undefined
    ? 'is required: "lww" (last write wins) or "cas" (compare-and-set); the container image sets it'
    : `must be "lww" or "cas", got ${JSON.stringify(value)}`);
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

/** The folder of parallel uploads' temporary parts, with its trailing `/`; never the bucket root. */

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
  const match = /^(\d+)(Ki|Mi|Gi|Ti)?$/.exec(value);
  const bytes = match?.[1] === undefined ? Number.NaN : Number(match[1]) * (SIZE_UNITS[match[2] ?? ''] ?? Number.NaN);
  if (!Number.isSafeInteger(bytes) || bytes < min) {
    throw new ConfigError(name, `must be a size in bytes of at least ${min}, optionally with a Ki, Mi, Gi or Ti suffix (e.g. 4Mi), got ${JSON.stringify(value)}`);
  }
  return bytes;
}

function fileMode(env: Env, name: string, fallback: number): number {
  const value = nonEmpty(env, name);
  if (value === undefined) return fallback;
  if (!/^0?[0-7]{3}$/.test(value)) throw new ConfigError(name, `must be an octal file mode such as 0660, got ${JSON.stringify(value)}`);
  return Number.parseInt(value, 8);
}

function absolutePath(env: Env, name: string, fallback: string): string {
  const value = nonEmpty(env, name);
  if (value === undefined) return fallback;
  if (!isAbsolute(value)) throw new ConfigError(name, `must be an absolute directory path, got ${JSON.stringify(value)}`);
  return value;
}

function optionalAbsolutePath(env: Env, name: string): string | undefined {
  const value = nonEmpty(env, name);
  if (value !== undefined && !isAbsolute(value)) throw new ConfigError(name, `must be an absolute file path, got ${JSON.stringify(value)}`);
  return value;
}

function ipAddress(env: Env, name: string): string | undefined {
  const value = nonEmpty(env, name);
  if (value !== undefined && isIP(value) === 0) {
    throw new ConfigError(name, `must be an IP address to bind, such as 0.0.0.0, :: or 127.0.0.1, got ${JSON.stringify(value)}`);
  }
  return value;
}

function logLevel(env: Env, name: string): LogLevel {
  const value = nonEmpty(env, name)?.toLowerCase() ?? 'info';
  if (value === 'debug' || value === 'info' || value === 'warn' || value === 'error') return value;
  throw new ConfigError(name, `must be one of debug, info, warn, error, got ${JSON.stringify(value)}`);
}

/** True for an origin on this host (127.0.0.0/8, ::1, localhost), where plain http never leaves the machine. */
function isLoopbackOrigin(origin: string): boolean {
  const host = new URL(origin).hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}
