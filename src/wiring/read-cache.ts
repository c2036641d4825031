/**
 * Puts the read cache in front of the store when CONNECTOR_CACHE is set: opens its
 * directory (one per socket path, so connectors sharing a volume never share an index),
 * takes back what a previous run left, and reports to the metrics. A directory the
 * connector may not trust (a symlink, another user's) turns the cache off with a warning:
 * the cache only saves downloads, and whoever else can write the volume must not be able
 * to keep the connector from starting.
 */
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { MemoryBudget } from '../memory-budget.ts';
import type { ConnectorMetrics } from '../metrics/connector-metrics.ts';
import { socketScopedDir } from '../socket-scoped-dir.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { CachedObjectStore } from '../store/read-cache/cached-store.ts';
import { CacheIndex, UnsafeCacheDirError } from '../store/read-cache/cache-index.ts';

export async function openReadCache(cache: NonNullable<Config['cache']>, socketPath: string, store: ObjectStore, metrics: ConnectorMetrics, logger: Logger, budget: MemoryBudget): Promise<ObjectStore> {
  const dir = socketScopedDir(cache.dir, 'cache', socketPath);
  let opened;
  try {
    opened = await CacheIndex.open(dir, cache.maxBytes, { onEvict: () => { metrics.cacheEvictions.inc(); } }, budget);
  } catch (error) {
    if (!(error instanceof UnsafeCacheDirError)) throw error;
    logger.warn('read cache off: its directory cannot be trusted; serving without it', { dir, reason: error.message });
    return store;
  }
  const { index, restored, removed } = opened;
  metrics.cacheSize = index;
  logger.info('read cache on', { dir, max_bytes: cache.maxBytes, min_object_bytes: cache.minObjectBytes, restored_entries: restored, removed_files: removed });
  return new CachedObjectStore(store, index, cache.minObjectBytes, {
    onHit: (bytes) => {
      metrics.cacheHits.inc();
      metrics.cacheBytesSaved.inc({}, bytes);
    },
    onMiss: () => { metrics.cacheMisses.inc(); },
  });
}
