/**
 * The connector in the test's own process: the same route context and protocol server
 * main.ts builds, on a Unix socket, over the in-memory store (or another ObjectStore).
 * No Go, no emulator, no child process: for tests of the state service, the variants,
 * the read cache and the routes that do not need a process of their own.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config.ts';
import { KeySpace } from '../../src/keys.ts';
import { createLogger } from '../../src/log.ts';
import { MemoryBudget } from '../../src/memory-budget.ts';
import { createConnectorMetrics, type ConnectorMetrics } from '../../src/metrics/connector-metrics.ts';
import { buildRouteContext } from '../../src/wiring/route-context.ts';
import { createProtocolServer, SOCKET_TIMEOUTS } from '../../src/server/protocol-server.ts';
import { closeGracefully, listenOnSocket } from '../../src/server/socket-listener.ts';
import { BackendHealth } from '../../src/store/backend-health.ts';
import { MemoryObjectStore } from '../../src/store/memory/memory-store.ts';
import type { ObjectStore } from '../../src/store/object-store.ts';
import { openReadCache } from '../../src/wiring/read-cache.ts';

export interface InProcessOptions {
  readonly variant: 'lww' | 'cas';
  /** Connector variables, as the process would read them (CONNECTOR_CACHE_DIR turns the read cache on). */
  readonly env?: Readonly<Record<string, string>>;
  /** Default: a fresh in-memory store. */
  readonly store?: ObjectStore;
}

export interface InProcessConnector {
  readonly socketPath: string;
  /** The backend store (behind the read cache, when it is on). */
  readonly store: ObjectStore;
  readonly config: Config;
  readonly metrics: ConnectorMetrics;
  readonly budget: MemoryBudget;
  stop(): Promise<void>;
}

/** Budget when CONNECTOR_MEMORY_BUDGET is not set: what a 128Mi container gets. */
const DEFAULT_BUDGET_BYTES = 36 * 1024 * 1024;

export async function startInProcess(options: InProcessOptions): Promise<InProcessConnector> {
  const dir = await mkdtemp(join(tmpdir(), 'asya-in-process-'));
  const socketPath = join(dir, 'state.sock');
  const config = loadConfig({ CONNECTOR_VARIANT: options.variant, CONNECTOR_SOCKET: socketPath, STATE_BUCKET: 'memory', CONNECTOR_LOG_LEVEL: 'error', ...options.env });
  const store = options.store ?? new MemoryObjectStore('memory');
  const budget = new MemoryBudget(config.memoryBudgetBytes ?? DEFAULT_BUDGET_BYTES);
  const metrics = createConnectorMetrics(budget, config.variant);
  const logger = createLogger(config.logLevel, process.stderr);
  const keys = new KeySpace(config.prefix);
  const health = new BackendHealth({ probe: () => store.probe(keys.objectName(''), 1_000), freshnessMs: 10_000 });
  const served = config.cache === undefined ? store : await openReadCache(config.cache, socketPath, store, metrics, logger, budget);
  const server = createProtocolServer(buildRouteContext({ config, keys, store: served, budget, metrics, logger, health }), {
    listener: 'socket', maxConnections: config.maxConnections, capVariable: 'CONNECTOR_MAX_CONNECTIONS', timeouts: SOCKET_TIMEOUTS,
  });
  await listenOnSocket(server, socketPath, config.socketMode);
  return {
    socketPath,
    store,
    config,
    metrics,
    budget,
    async stop() {
      await closeGracefully(server, socketPath, 1_000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `fn` against a connector started for it, and stops the connector whatever happens. */
export async function withInProcess<T>(options: InProcessOptions, fn: (connector: InProcessConnector) => Promise<T>): Promise<T> {
  const connector = await startInProcess(options);
  try {
    return await fn(connector);
  } finally {
    await connector.stop();
  }
}
