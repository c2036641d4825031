/**
 * What the routes are given to serve a request: the state service, the key rules, and
 * the few settings of the request path.
 */
import type { KeySpace } from '../keys.ts';
import type { Logger } from '../log.ts';
import type { MemoryBudget } from '../memory-budget.ts';
import type { ConnectorMetrics } from '../metrics/connector-metrics.ts';
import type { QuerySettings } from '../state/query/query-runner.ts';
import type { StateService } from '../state/state-service.ts';
import type { BackendHealth } from '../store/backend-health.ts';
import type { BodyRate } from './body-rate-guard.ts';

export interface RouteContext {
  readonly service: StateService;
  readonly keys: KeySpace;
  readonly health: BackendHealth;
  readonly metrics: ConnectorMetrics;
  readonly logger: Logger;
  /** Request bodies are received and handed to the store in chunks of this size (request-body.ts). */
  readonly uploadChunkBytes: number;
  readonly maxBodyBytes: number;
  /** What request bodies, listings and connections may hold in memory. */
  readonly budget: MemoryBudget;
  /** The least speed a request body must keep. */
  readonly bodyRate: BodyRate;
  /** How `POST /query` reads documents. */
  readonly query: QuerySettings;
}

/** A parsed request line: the path without its query, and the raw query. */
export interface RequestTarget {
  readonly path: string;
  readonly rawQuery: string;
}
