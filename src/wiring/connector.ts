/**
 * The whole connector, wired once: memory budget, metrics, the store (GCS unless one is
 * given), readiness, the read cache, the protocol server on the Unix socket and the ops
 * port. main.ts runs it as a process; the in-process tests run the very same wiring over
 * the in-memory store.
 */
import type { Config } from '../config.ts';
import { KeySpace } from '../keys.ts';
import type { Logger } from '../log.ts';
import { MemoryBudget } from '../memory-budget.ts';
import { createConnectorMetrics, type ConnectorMetrics } from '../metrics/connector-metrics.ts';
import { createProtocolServer, OPS_TIMEOUTS, SOCKET_TIMEOUTS } from '../server/protocol-server.ts';
import { opsRoute } from '../server/router.ts';
import { claimSocketPath, closeGracefully, listenOnOpsPort, listenOnSocket, SocketPathError } from '../server/socket-listener.ts';
import { BackendHealth } from '../store/backend-health.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { StoreError } from '../store/store-error.ts';
import { createGcsStore, gcsObserver } from './gcs-store.ts';
import { openReadCache } from './read-cache.ts';
import { buildRouteContext } from './route-context.ts';

const READINESS_FRESHNESS_MS = 10_000;
const READINESS_PROBE_TIMEOUT_MS = 2_000;
/** Connections the ops port serves at once: a few probes and a scraper need no more. */
const OPS_MAX_CONNECTIONS = 32;

export interface ConnectorOptions {
  readonly logger: Logger;
  /** The memory budget's size (CONNECTOR_MEMORY_BUDGET wins when set). */
  readonly budgetBytes: number;
  /** The store to serve; default the GCS store the configuration names, its bucket checked first. */
  readonly store?: ObjectStore;
}

export interface RunningConnector {
  /** The backend store (behind the read cache, when it is on). */
  readonly store: ObjectStore;
  readonly metrics: ConnectorMetrics;
  readonly budget: MemoryBudget;
  /** The upload chunk the budget allows (8 MiB, or less). */
  readonly uploadChunkBytes: number;
  /** Stops accepting, lets requests in flight finish for `graceMs`, then closes the rest and the store. */
  stop(graceMs: number): Promise<{ forced: boolean }>;
}

/** Start-up failed for a reason the operator must fix (bucket, socket path, ops port); the message says which. */
export class StartupError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StartupError';
  }
}

export async function createConnector(config: Config, options: ConnectorOptions): Promise<RunningConnector> {
  const { logger } = options;
  const budget = new MemoryBudget(config.memoryBudgetBytes ?? options.budgetBytes);
  const metrics = createConnectorMetrics(budget, config.variant);
  const keys = new KeySpace(config.prefix);
  const listPrefix = keys.objectName('');
  // The probe is only called once serving, after `store` below exists.
  const health: BackendHealth = new BackendHealth({ probe: () => store.probe(listPrefix, READINESS_PROBE_TIMEOUT_MS), freshnessMs: READINESS_FRESHNESS_MS });
  const store: ObjectStore = options.store ?? gcsStore(config, metrics, logger, budget, health);
  const failed = async (what: string, error: unknown): Promise<never> => {
    await store.close();
    // A refusal or a file-system error is the operator's to fix; anything else is a bug.
    if (error instanceof SocketPathError || error instanceof StoreError || (error as NodeJS.ErrnoException).code !== undefined) {
      throw new StartupError(`${what}: ${(error as Error).message}`, { cause: error });
    }
    throw error;
  };

  if (options.store === undefined) {
    await store.probe(listPrefix, config.gcsTimeoutMs).catch((error: unknown) => failed(`cannot use bucket gs://${config.bucket}`, error));
  }
  const { replacedStale } = await claimSocketPath(config.socketPath).catch((error: unknown) => failed(`cannot serve on ${config.socketPath}`, error));
  if (replacedStale) logger.warn('replaced a stale socket file left by an earlier process', { socket: config.socketPath });
  const served = config.cache === undefined ? store : await openReadCache(config.cache, config.socketPath, store, metrics, logger, budget)
    .catch((error: unknown) => failed(`cannot use the read cache directory ${config.cache?.dir ?? ''}`, error));
  const context = buildRouteContext({ config, keys, store: served, budget, metrics, logger, health });
  const server = createProtocolServer(context, {
    listener: 'socket', maxConnections: config.maxConnections, listenerName: 'the socket', timeouts: SOCKET_TIMEOUTS,
  });
  const opsServer = config.opsPort === undefined ? undefined : await listenOnOpsPort(createProtocolServer(context, {
    listener: 'ops', maxConnections: OPS_MAX_CONNECTIONS, listenerName: 'the ops port', timeouts: OPS_TIMEOUTS, router: opsRoute, makesRoomFromIdle: true,
  }), config.opsPort, config.opsHost)
    .catch((error: unknown) => failed(`cannot serve the ops port ${String(config.opsPort)}`, error));
  await listenOnSocket(server, config.socketPath, config.socketMode)
    .catch((error: unknown) => {
      opsServer?.close();
      return failed(`cannot serve on ${config.socketPath}`, error);
    });

  return {
    store,
    metrics,
    budget,
    uploadChunkBytes: context.uploadChunkBytes,
    async stop(graceMs) {
      opsServer?.close();
      opsServer?.closeAllConnections();
      const { forced } = await closeGracefully(server, config.socketPath, graceMs);
      await store.close();
      return { forced };
    },
  };
}

/** The GCS store, its answers counted and fed to the readiness health; ranges of large downloads yield to request bodies waiting for memory. */
function gcsStore(config: Config, metrics: ConnectorMetrics, logger: Logger, budget: MemoryBudget, health: BackendHealth): ObjectStore {
  return createGcsStore(config, gcsObserver(metrics, health, logger), {
    tryReserve: (bytes) => budget.tryReserveInTurn(bytes, 'download'),
    release: (bytes) => { budget.release(bytes, 'download'); },
  });
}
