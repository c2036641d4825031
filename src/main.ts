/**
 * The connector process: configuration → GCS store → bucket check → protocol server on
 * the Unix socket; SIGTERM/SIGINT drain and exit 0.
 *
 * Exit codes: 0 clean stop; 1 start-up failed (bucket missing, no permission, GCS
 * unreachable, socket path taken); 78 configuration error (EX_CONFIG).
 */
import { enableBufferReclaim } from './buffer-reclaim.ts';
import { loadConfig, ConfigError, obsoleteSettings, type Config } from './config.ts';
import { ConnectorError } from './errors.ts';
import { KeySpace } from './keys.ts';
import { createLogger, type Logger } from './log.ts';
import { containerMemoryLimit, defaultBudgetBytes, MemoryBudget } from './memory-budget.ts';
import { createConnectorMetrics, type ConnectorMetrics } from './metrics/connector-metrics.ts';
import { createProtocolServer, OPS_TIMEOUTS, SOCKET_TIMEOUTS } from './server/protocol-server.ts';
import { opsRoute } from './server/router.ts';
import { claimSocketPath, closeGracefully, listenOnOpsPort, listenOnSocket, SocketPathError } from './server/socket-listener.ts';
import { chunkForBudget } from './server/request-body.ts';
import type { QuerySettings } from './state/query/query-runner.ts';
import { StateService } from './state/state-service.ts';
import { BackendHealth } from './store/backend-health.ts';
import { createGcsStore } from './store/gcs/create-gcs-store.ts';
import { UnsafeCacheDirError } from './store/read-cache/cache-index.ts';
import { openReadCache } from './store/read-cache/open-read-cache.ts';
import { compareAndSet } from './variants/cas.ts';
import { GenerationMemory } from './variants/generation-memory.ts';
import { lastWriteWins } from './variants/lww.ts';

const EXIT_STARTUP_FAILED = 1;
const EXIT_CONFIG = 78;
const READINESS_FRESHNESS_MS = 10_000;
const READINESS_PROBE_TIMEOUT_MS = 2_000;
/** Connections the ops port serves at once: a few probes and a scraper need no more. */
const OPS_MAX_CONNECTIONS = 32;

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`configuration error: ${error.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  const logger = createLogger(config.logLevel);
  enableBufferReclaim();
  const memoryLimit = containerMemoryLimit();
  const budget = new MemoryBudget(config.memoryBudgetBytes ?? defaultBudgetBytes(memoryLimit, process.memoryUsage.rss()));
  for (const warning of obsoleteSettings(process.env)) logger.warn(warning);
  const uploadChunkBytes = chunkForBudget(config.uploadChunkBytes, budget.limitBytes);
  if (uploadChunkBytes < config.uploadChunkBytes) {
    logger.warn('upload chunk lowered to fit two in the memory budget', { configured: config.uploadChunkBytes, used: uploadChunkBytes, memory_budget_bytes: budget.limitBytes });
  }
  const metrics = createConnectorMetrics(budget);
  const keys = new KeySpace(config.prefix);
  const listPrefix = keys.objectName('');

  // The probe is only called once serving, after `store` below exists.
  const health = new BackendHealth({ probe: () => store.probe(listPrefix, READINESS_PROBE_TIMEOUT_MS), freshnessMs: READINESS_FRESHNESS_MS });
  const store = createGcsStore(config, {
    onOutcome: (op, outcome) => {
      metrics.gcsRequests.inc({ op, outcome });
      health.note(outcome);
    },
    onRetry: (op, error) => {
      const reason = error instanceof ConnectorError ? error.code : 'unknown';
      metrics.gcsRetries.inc({ op, reason });
      logger.debug('retrying GCS request', { op, reason });
    },
  }, {
    // Ranges of large downloads yield to request bodies waiting for memory.
    tryReserve: (bytes) => budget.tryReserveInTurn(bytes, 'download'),
    release: (bytes) => { budget.release(bytes, 'download'); },
  });

  try {
    await store.probe(listPrefix, config.gcsTimeoutMs);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    logger.error(`cannot use bucket gs://${config.bucket}: ${message}`, { bucket: config.bucket, endpoint: config.emulatorOrigin ?? 'https://storage.googleapis.com' });
    await store.close();
    process.exit(EXIT_STARTUP_FAILED);
  }

  await claimSocket(config, logger)
    .catch((error: unknown) => failStartup(`cannot serve on ${config.socketPath}`, error, logger, store));

  const servedStore = config.cache === undefined ? store : await openReadCache(config.cache, config.socketPath, store, metrics, logger, budget)
    .catch((error: unknown) => failStartup(`cannot use the read cache directory ${config.cache?.dir ?? ''}`, error, logger, store));
  const policy = config.variant === 'cas' ? compareAndSet(new GenerationMemory(config.casMemoryKeys, budget)) : lastWriteWins;
  const service = new StateService({
    store: servedStore,
    keys,
    policy,
    presignTtlSeconds: config.presignTtlSeconds,
    onInvalidName: invalidNameReporter(metrics, logger),
  });
  const context = {
    service,
    keys,
    health,
    metrics,
    logger,
    uploadChunkBytes,
    maxBodyBytes: config.maxBodyBytes,
    budget,
    bodyRate: { minBytesPerSecond: config.bodyMinBytesPerSecond, windowMs: config.bodyWindowMs },
    query: querySettings(config, budget.limitBytes, logger),
  };
  const server = createProtocolServer(context, {
    listener: 'socket', maxConnections: config.maxConnections, capVariable: 'CONNECTOR_MAX_CONNECTIONS', timeouts: SOCKET_TIMEOUTS,
  });
  const opsServer = config.opsPort === undefined ? undefined : await listenOnOpsPort(createProtocolServer(context, {
    listener: 'ops', maxConnections: OPS_MAX_CONNECTIONS, capVariable: `the ops port's cap of ${OPS_MAX_CONNECTIONS}`, timeouts: OPS_TIMEOUTS, router: opsRoute,
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
    endpoint: config.emulatorOrigin ?? 'https://storage.googleapis.com',
    ...(config.opsPort === undefined ? {} : { ops_port: config.opsPort, ops_host: config.opsHost ?? 'all interfaces' }),
    memory_budget_bytes: budget.limitBytes,
    upload_chunk_bytes: uploadChunkBytes,
    memory_limit_bytes: memoryLimit ?? 'none (budget sized for 128Mi)',
    uptime_ms: Math.round(process.uptime() * 1000),
  });
}

/** Counts names a listing left out and warns of the first one (the metric counts the rest). */
/** The query settings, with a query's memory lowered to half the budget when it is larger. */
function querySettings(config: Config, budgetBytes: number, logger: Logger): QuerySettings {
  const memoryBytes = Math.min(config.queryMemoryBytes, Math.floor(budgetBytes / 2));
  if (memoryBytes < config.queryMemoryBytes) {
    logger.warn('query memory lowered to half the memory budget', { configured: config.queryMemoryBytes, used: memoryBytes, memory_budget_bytes: budgetBytes });
  }
  return { reads: config.queryReads, documentMaxBytes: Math.min(config.queryDocumentMaxBytes, memoryBytes), memoryBytes };
}

function invalidNameReporter(metrics: ConnectorMetrics, logger: Logger): (objectName: string) => void {
  let warned = false;
  return (objectName) => {
    metrics.listingNamesDropped.inc();
    if (warned) return;
    warned = true;
    logger.warn('left an object out of a listing: its name is not a valid key (written by another client?); further ones are only counted in asya_state_listing_names_dropped_total', {
      object: JSON.stringify(objectName.slice(0, 200)),
    });
  };
}

/** Claims the socket path (a stale socket file of a dead process is replaced). */
async function claimSocket(config: Config, logger: Logger): Promise<void> {
  const { replacedStale } = await claimSocketPath(config.socketPath);
  if (replacedStale) logger.warn('replaced a stale socket file left by an earlier process', { socket: config.socketPath });
}

/** Logs why start-up failed and exits 1; a bug (not a refusal of the socket or cache path, nor a file-system error) is rethrown. */
async function failStartup(what: string, error: unknown, logger: Logger, store: { close(): Promise<void> }): Promise<never> {
  const refusedPath = error instanceof SocketPathError || error instanceof UnsafeCacheDirError;
  if (!refusedPath && (error as NodeJS.ErrnoException).code === undefined) throw error;
  logger.error(`${what}: ${(error as Error).message}`);
  await store.close();
  process.exit(EXIT_STARTUP_FAILED);
}

function handleSignals(config: Config, logger: Logger, stop: (graceMs: number) => Promise<boolean>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn('second signal: exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    logger.info('stopping: finishing requests in flight', { signal, grace_ms: config.shutdownGraceMs });
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
