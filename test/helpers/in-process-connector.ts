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
import { isStoreError } from '../../src/store/store-error.ts';
import { createLogger } from '../../src/log.ts';
import { readToEnd } from '../../src/read-to-end.ts';
import type { MemoryBudget } from '../../src/memory-budget.ts';
import type { ConnectorMetrics } from '../../src/metrics/connector-metrics.ts';
import { MemoryObjectStore } from '../../src/store/memory/memory-store.ts';
import type { ObjectStore } from '../../src/store/object-store.ts';
import { createConnector } from '../../src/wiring/connector.ts';
import { wholeBody } from '../contract/object-store-contract.ts';

export interface InProcessOptions {
  readonly variant: 'lww' | 'cas';
  /** Connector variables, as the process would read them (CONNECTOR_CACHE turns the read cache on). */
  readonly env?: Readonly<Record<string, string>>;
  /** Fixed settings changed for this test (a small CAS memory, a read cache for tiny objects). */
  readonly settings?: Partial<Config>;
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
  const config: Config = { ...loadConfig({ CONNECTOR_SOCKET: socketPath, STATE_BUCKET: 'memory', ...options.env }, options.variant), logLevel: 'error', ...options.settings };
  const store = options.store ?? new MemoryObjectStore('memory');
  const connector = await createConnector(config, { logger: createLogger(config.logLevel, process.stderr), budgetBytes: DEFAULT_BUDGET_BYTES, store });
  return {
    socketPath,
    store,
    config,
    metrics: connector.metrics,
    budget: connector.budget,
    async stop() {
      await connector.stop(1_000);
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

/** Stores `body` as object `name`, as another writer would (straight into the store). */
export async function putObject(store: ObjectStore, name: string, body: string | Buffer): Promise<string> {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const stored = await store.write(name, wholeBody(bytes), { contentType: 'application/octet-stream' });
  return stored.generation;
}

/** The calls that reach `store`'s objects, counted (what "no GCS request" means in-process), and the downloads among them. */
export function countingCalls(store: ObjectStore): { readonly store: ObjectStore; calls(): number; downloads(): number } {
  let calls = 0;
  let downloads = 0;
  const counted = new Set<PropertyKey>(['read', 'readIfChanged', 'stat', 'write', 'remove', 'list', 'setContentType']);
  const proxy = new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => unknown;
      return (...args: unknown[]) => {
        if (counted.has(property)) calls += 1;
        const result = method.apply(target, args);
        // A read answers a download; readIfChanged answers one only when the object changed.
        if (property === 'read' || property === 'readIfChanged') {
          return (result as Promise<unknown>).then((download) => {
            if (download !== undefined) downloads += 1;
            return download;
          });
        }
        return result;
      };
    },
  });
  return { store: proxy, calls: () => calls, downloads: () => downloads };
}

/** Object `name`'s bytes, straight from the store; undefined when absent. */
export async function getObject(store: ObjectStore, name: string): Promise<Buffer | undefined> {
  try {
    return await readToEnd((await store.read(name)).body);
  } catch (error) {
    if (isStoreError(error, 'not_found')) return undefined;
    throw error;
  }
}
