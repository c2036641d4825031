/**
 * Puts the read cache in front of the store when CONNECTOR_CACHE_DIR is set: opens its
 * directory (one per socket path, so connectors sharing a volume never share an index),
 * takes back what a previous run left, and reports to the metrics.
 */
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { MemoryBudget } from '../memory-budget.ts';
import type { ConnectorMetrics } from '../metrics/connector-metrics.ts';
import { socketScopedDir } from '../socket-scoped-dir.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { CachedObjectStore } from '../store/read-cache/cached-store.ts';
import { CacheIndex } from '../store/read-cache/cache-index.ts';

export async function openReadCache(cache: NonNullable<Config['cache']>, socketPath: string, store: ObjectStore, metrics: ConnectorMetrics, logger: Logger, budget: MemoryBudget): Promise<ObjectStore> {
  const dir = socketScopedDir(cache.dir, 'cache', socketPath);
  const { index, restored, removed } = await CacheIndex.open(dir, cache.maxBytes, {
    onEvict: () => { metrics.cacheEvictions.inc(); },
  }, budget);
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
