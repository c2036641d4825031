/**
 * What the protocol server is given to serve requests, built from the configuration and
 * a store: the state service with the variant's write policy, and the settings of the
 * request path fitted to the memory budget. The process (main.ts) and the in-process
 * tests build it the same way, around different stores.
 */
import type { Config } from '../config.ts';
import type { KeySpace } from '../keys.ts';
import type { Logger } from '../log.ts';
import type { MemoryBudget } from '../memory-budget.ts';
import { CAS_KEY_COST, documentCost } from '../memory-costs.ts';
import type { ConnectorMetrics } from '../metrics/connector-metrics.ts';
import { chunkForBudget } from '../server/request-body.ts';
import type { RouteContext } from '../server/route-context.ts';
import type { QuerySettings } from '../state/query/query-runner.ts';
import { StateService } from '../state/state-service.ts';
import type { BackendHealth } from '../store/backend-health.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { compareAndSet } from '../variants/cas.ts';
import { GenerationMemory } from '../variants/generation-memory.ts';
import { lastWriteWins } from '../variants/lww.ts';

export interface RouteContextParts {
  readonly config: Config;
  readonly keys: KeySpace;
  /** The store requests are served from (the read cache's, when it is on). */
  readonly store: ObjectStore;
  readonly budget: MemoryBudget;
  readonly metrics: ConnectorMetrics;
  readonly logger: Logger;
  readonly health: BackendHealth;
}

export function buildRouteContext(parts: RouteContextParts): RouteContext {
  const { config, budget, metrics, logger } = parts;
  const policy = config.variant === 'cas' ? compareAndSet(new GenerationMemory(config.casMemoryKeys ?? casKeysForBudget(budget.limitBytes), budget)) : lastWriteWins;
  const service = new StateService({
    store: parts.store,
    keys: parts.keys,
    policy,
    presignTtlSeconds: config.presignTtlSeconds,
    onInvalidName: invalidNameReporter(metrics, logger),
  });
  return {
    service,
    keys: parts.keys,
    health: parts.health,
    metrics,
    logger,
    uploadChunkBytes: uploadChunk(config, budget.limitBytes, logger),
    maxBodyBytes: config.maxBodyBytes,
    budget,
    bodyRate: { minBytesPerSecond: config.bodyMinBytesPerSecond, windowMs: config.bodyWindowMs },
    query: querySettings(config, budget.limitBytes, logger),
  };
}

/** As many keys as a third of the budget holds: the rest stays for bodies, listings and queries. */
function casKeysForBudget(budgetBytes: number): number {
  return Math.max(1, Math.floor(budgetBytes / 3 / CAS_KEY_COST));
}

/** The upload chunk, lowered (and logged) when two do not fit in the memory budget. */
function uploadChunk(config: Config, budgetBytes: number, logger: Logger): number {
  const chunkBytes = chunkForBudget(config.uploadChunkBytes, budgetBytes);
  if (chunkBytes < config.uploadChunkBytes) {
    logger.info('upload chunk sized to fit two in the memory budget', { preferred: config.uploadChunkBytes, used: chunkBytes, memory_budget_bytes: budgetBytes });
  }
  return chunkBytes;
}

/**
 * The query settings, with a query's memory lowered (and logged) to a third of the budget
 * when it is larger, and the largest document read to what that memory can parse.
 */
function querySettings(config: Config, budgetBytes: number, logger: Logger): QuerySettings {
  const memoryBytes = Math.min(config.queryMemoryBytes, Math.floor(budgetBytes / 3));
  if (memoryBytes < config.queryMemoryBytes) {
    logger.info('query memory sized to a third of the memory budget', { preferred: config.queryMemoryBytes, used: memoryBytes, memory_budget_bytes: budgetBytes });
  }
  return { reads: config.queryReads, documentMaxBytes: Math.min(config.queryDocumentMaxBytes, Math.floor(memoryBytes / documentCost(1))), memoryBytes };
}

/** Counts names a listing left out and warns of the first one (the metric counts the rest). */
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
