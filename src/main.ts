/**
 * The connector process: configuration → GCS store → bucket check → protocol server on
 * the Unix socket; SIGTERM/SIGINT drain and exit 0.
 *
 * Exit codes: 0 clean stop; 1 start-up failed (bucket missing, no permission, GCS
 * unreachable, socket path taken); 78 configuration error (EX_CONFIG).
 */
import { loadConfig, ConfigError, obsoleteSettings, type Config } from './config.ts';
import { ConnectorError } from './errors.ts';
import { KeySpace } from './keys.ts';
import { createLogger, logProcessWarnings, type Logger } from './log.ts';
import { containerMemoryLimit, defaultBudgetBytes, MemoryBudget } from './memory-budget.ts';
import { createConnectorMetrics, type ConnectorMetrics } from './metrics/connector-metrics.ts';
import { createProtocolServer, OPS_TIMEOUTS, SOCKET_TIMEOUTS } from './server/protocol-server.ts';
import { opsRoute } from './server/router.ts';
import { claimSocketPath, closeGracefully, listenOnOpsPort, listenOnSocket, SocketPathError } from './server/socket-listener.ts';
import { buildRouteContext } from './wiring/route-context.ts';
import { BackendHealth } from './store/backend-health.ts';
import { createGcsStore, gcsOrigin } from './wiring/gcs-store.ts';
import type { GcsObjectStore } from './store/gcs/gcs-store.ts';
import { openReadCache } from './wiring/read-cache.ts';

const EXIT_STARTUP_FAILED = 1;
const EXIT_CONFIG = 78;
const READINESS_FRESHNESS_MS = 10_000;
const READINESS_PROBE_TIMEOUT_MS = 2_000;
/** Connections the ops port serves at once: a few probes and a scraper need no more. */
const OPS_MAX_CONNECTIONS = 32;

async function main(): Promise<void> {
  const config = configOrExit();
  const logger = createLogger(config.logLevel);
  logProcessWarnings(logger);
  const memoryLimit = containerMemoryLimit();
  const budget = new MemoryBudget(config.memoryBudgetBytes ?? defaultBudgetBytes(memoryLimit, process.memoryUsage.rss()));
  for (const warning of obsoleteSettings(process.env)) logger.warn(warning);
  const metrics = createConnectorMetrics(budget, config.variant);
  const keys = new KeySpace(config.prefix);
  const { store, health } = gcsBackend(config, keys, metrics, logger, budget);
  await checkBucket(config, keys, store, logger);

  await claimSocket(config, logger)
    .catch((error: unknown) => failStartup(`cannot serve on ${config.socketPath}`, error, logger, store));
  const servedStore = config.cache === undefined ? store : await openReadCache(config.cache, config.socketPath, store, metrics, logger, budget)
    .catch((error: unknown) => failStartup(`cannot use the read cache directory ${config.cache?.dir ?? ''}`, error, logger, store));
  const context = buildRouteContext({ config, keys, store: servedStore, budget, metrics, logger, health });
  const server = createProtocolServer(context, {
    listener: 'socket', maxConnections: config.maxConnections, capVariable: 'CONNECTOR_MAX_CONNECTIONS', timeouts: SOCKET_TIMEOUTS,
  });
  const opsServer = config.opsPort === undefined ? undefined : await listenOnOpsPort(createProtocolServer(context, {
    listener: 'ops', maxConnections: OPS_MAX_CONNECTIONS, capVariable: `the ops port's cap of ${OPS_MAX_CONNECTIONS}`, timeouts: OPS_TIMEOUTS, router: opsRoute, makesRoomFromIdle: true,
  }), config.opsPort, config.opsHost)
    .catch((error: unknown) => failStartup(`cannot serve the ops port ${String(config.opsPort)}`, error, logger, store));
  await listenOnSocket(server, config.socketPath, config.socketMode)
    .catch((error: unknown) => failStartup(`cannot serve on ${config.socketPath}`, error, logger, store));

  // Handlers first: a signal right after "serving" must drain, not kill the process.
  handleSignals(config, logger, async (graceMs) => {
    opsServer?.close();
    opsServer?.closeAllConnections();
    const { forced } = await closeGracefully(server, config.socketPath, graceMs);
    await store.close();
    return forced;
  });
  logger.info('serving', {
    variant: config.variant,
    socket: config.socketPath,
    bucket: config.bucket,
    prefix: config.prefix,
    endpoint: gcsOrigin(config),
    ...(config.opsPort === undefined ? {} : { ops_port: config.opsPort, ops_host: config.opsHost ?? 'all interfaces' }),
    memory_budget_bytes: budget.limitBytes,
    upload_chunk_bytes: context.uploadChunkBytes,
    memory_limit_bytes: memoryLimit ?? 'none (budget sized for 128Mi)',
    uptime_ms: Math.round(process.uptime() * 1000),
  });
}

/** The configuration, or exit 78 with the one line saying what is wrong. */
function configOrExit(): Config {
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`configuration error: ${error.message}\n`);
    process.exit(EXIT_CONFIG);
  }
}

/** The GCS store, its outcomes counted and fed to the readiness health. */
function gcsBackend(config: Config, keys: KeySpace, metrics: ConnectorMetrics, logger: Logger, budget: MemoryBudget): { store: GcsObjectStore; health: BackendHealth } {
  const listPrefix = keys.objectName('');
  // The probe is only called once serving, after `store` below exists.
  const health = new BackendHealth({ probe: () => store.probe(listPrefix, READINESS_PROBE_TIMEOUT_MS), freshnessMs: READINESS_FRESHNESS_MS });
  const store = createGcsStore(config, {
    onOutcome: (op, outcome, seconds) => {
      metrics.gcsRequests.inc({ op, outcome });
      metrics.gcsRequestSeconds.observe({ op, outcome: outcomeClass(outcome) }, seconds);
      health.note(outcome);
    },
    onRetry: (op, error, attempt) => {
      const reason = error instanceof ConnectorError ? error.code : 'unknown';
      metrics.gcsRetries.inc({ op, reason });
      // The final failure, if the retries run out, is one WARNING line with the attempts (failure-log.ts).
      logger.debug(`retrying GCS ${op} after attempt ${attempt}: ${error instanceof Error ? error.message : String(error)}`, { op, reason, attempt });
    },
    onLeftoverParts: (urls, error) => {
      // The object is whole (or untouched); these only cost storage until the lifecycle rule removes them.
      logger.warn('temporary parts of a parallel upload could not be deleted', { count: urls.length, first: urls[0], error });
    },
  }, {
    // Ranges of large downloads yield to request bodies waiting for memory.
    tryReserve: (bytes) => budget.tryReserveInTurn(bytes, 'download'),
    release: (bytes) => { budget.release(bytes, 'download'); },
  });
  return { store, health };
}

/** `200` → `2xx`; a transport error code stays `error`. */
function outcomeClass(outcome: string): string {
  const first = outcome.charCodeAt(0);
  // Called for every GCS request: a character test, no regular expression, no new string.
  return outcome.length === 3 && first >= 0x31 && first <= 0x35 ? OUTCOME_CLASSES[first - 0x31] ?? 'error' : 'error';
}

const OUTCOME_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** Checks that the bucket answers and the credentials may list it, or exits 1 saying why. */
async function checkBucket(config: Config, keys: KeySpace, store: GcsObjectStore, logger: Logger): Promise<void> {
  try {
    await store.probe(keys.objectName(''), config.gcsTimeoutMs);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    logger.error(`cannot use bucket gs://${config.bucket}: ${message}`, { bucket: config.bucket, endpoint: gcsOrigin(config) });
    await store.close();
    process.exit(EXIT_STARTUP_FAILED);
  }
}

/** Claims the socket path (a stale socket file of a dead process is replaced). */
async function claimSocket(config: Config, logger: Logger): Promise<void> {
  const { replacedStale } = await claimSocketPath(config.socketPath);
  if (replacedStale) logger.warn('replaced a stale socket file left by an earlier process', { socket: config.socketPath });
}

/** Logs why start-up failed and exits 1; a bug (not a refusal of the socket path, nor a file-system error) is rethrown. */
async function failStartup(what: string, error: unknown, logger: Logger, store: { close(): Promise<void> }): Promise<never> {
  const refusedPath = error instanceof SocketPathError;
  if (!refusedPath && (error as NodeJS.ErrnoException).code === undefined) throw error;
  logger.error(`${what}: ${(error as Error).message}`);
  await store.close();
  process.exit(EXIT_STARTUP_FAILED);
}

/** How long after the grace period a stop that has not finished is cut short. */
const HARD_STOP_AFTER_GRACE_MS = 5_000;

function handleSignals(config: Config, logger: Logger, stop: (graceMs: number) => Promise<boolean>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn('second signal: exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    logger.info('stopping: finishing requests in flight', { signal, grace_ms: config.shutdownGraceMs });
    // Connections are force-closed when the grace ends; if closing itself hangs, exit anyway.
    setTimeout(() => {
      logger.error('stopping did not finish after the grace period: exiting now', { grace_ms: config.shutdownGraceMs });
      process.exit(1);
    }, config.shutdownGraceMs + HARD_STOP_AFTER_GRACE_MS).unref();
    stop(config.shutdownGraceMs).then(
      (forced) => {
        logger.info('stopped', { forced_close: forced });
        process.exit(0);
      },
      (error: unknown) => {
        logger.error('error while stopping', { error });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

await main();
