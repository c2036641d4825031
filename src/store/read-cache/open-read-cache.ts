/**
 * Puts the read cache in front of the store when CONNECTOR_CACHE_DIR is set: opens its
 * directory (one per socket path, so connectors sharing a volume never share an index),
 * takes back what a previous run left, and reports to the metrics.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Config } from '../../config.ts';
import type { Logger } from '../../log.ts';
import type { ConnectorMetrics } from '../../metrics/connector-metrics.ts';
import type { ObjectStore } from '../object-store.ts';
import { CachedObjectStore } from './cached-store.ts';
import { CacheIndex } from './cache-index.ts';

export async function openReadCache(cache: NonNullable<Config['cache']>, socketPath: string, store: ObjectStore, metrics: ConnectorMetrics, logger: Logger): Promise<ObjectStore> {
  const dir = join(cache.dir, `asya-cache-${createHash('sha256').update(socketPath).digest('hex').slice(0, 16)}`);
  const { index, restored, removed } = await CacheIndex.open(dir, cache.maxBytes, {
    onEvict: () => { metrics.cacheEvictions.inc(); },
  });
  const update = (): void => {
    metrics.cacheBytes = index.usedBytes;
    metrics.cacheEntries = index.entryCount;
  };
  update();
  logger.info('read cache on', { dir, max_bytes: cache.maxBytes, min_object_bytes: cache.minObjectBytes, restored_entries: restored, removed_files: removed });
  return new CachedObjectStore(store, index, cache.minObjectBytes, {
    onHit: (bytes) => {
      metrics.cacheHits.inc();
      metrics.cacheBytesSaved.inc({}, bytes);
    },
    onMiss: () => { metrics.cacheMisses.inc(); },
    onChange: update,
  });
}
