/**
 * The connector's metrics, served at `GET /metrics`. Names and meanings are documented in
 * docs/metrics.md; keep the two in step.
 */
import { BUDGET_USES, type MemoryBudget } from '../memory-budget.ts';
import { VERSION } from '../version.ts';
import { registerProcessMetrics } from './process-metrics.ts';
import { Counter, Gauge, Histogram, Registry } from './registry.ts';

const LATENCY_BOUNDS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

export interface ConnectorMetrics {
  readonly registry: Registry;
  /** Protocol requests answered, by operation and HTTP status. */
  readonly requests: Counter;
  /** Protocol request latency in seconds, by operation. */
  readonly requestSeconds: Histogram;
  /** Requests in flight right now. */
  inFlight: number;
  /** GCS requests sent, by operation and outcome (HTTP status or a transport error kind). */
  readonly gcsRequests: Counter;
  /** GCS request latency until GCS's answer headers, by operation and outcome class (2xx, 4xx, 5xx, error). */
  readonly gcsRequestSeconds: Histogram;
  /** GCS requests retried, by operation and reason. */
  readonly gcsRetries: Counter;
  /** Error answers, by the protocol's error code. */
  readonly errors: Counter;
  /** Conflicts answered (409), by reason. */
  readonly conflicts: Counter;
  /** Request body bytes received from clients. */
  readonly bytesIn: Counter;
  /** Response body bytes sent to clients. */
  readonly bytesOut: Counter;
  /** Uploads longer than one chunk, streamed into GCS while they arrived. */
  readonly uploadsStreamed: Counter;
  /** Read cache: reads served from disk after GCS confirmed the generation. */
  readonly cacheHits: Counter;
  /** Read cache: reads downloaded from GCS. */
  readonly cacheMisses: Counter;
  /** Read cache: bytes served from disk instead of downloaded. */
  readonly cacheBytesSaved: Counter;
  /** Read cache: entries evicted to stay within the budget. */
  readonly cacheEvictions: Counter;
  /** Read cache: what the gauges read at each scrape (the cache index itself, once the cache is on). */
  cacheSize: { readonly usedBytes: number; readonly entryCount: number };
  /** Connections answered 503 and closed, by listener (`socket`, `ops`) and reason (`cap`, `budget`). */
  readonly connectionsRefused: Counter;
  /** The listeners' connection gates, read at each scrape for the connections open now. */
  readonly connectionGates: Map<string, { readonly openConnections: number }>;
  /** Names in the bucket left out of listings because they are not valid keys. */
  readonly listingNamesDropped: Counter;
  /** `POST /query`: documents read. */
  readonly queryDocumentsRead: Counter;
  /** `POST /query`: bytes of documents read. */
  readonly queryBytesRead: Counter;
  /** `POST /query`: files left out for what they are (not JSON, over the document limit, deleted meanwhile). */
  readonly queryFilesSkipped: Counter;
  /** `POST /query`: files left unread because a query reached its caps. */
  readonly queryFilesUnread: Counter;
}

/** Creates the connector's metric set in a fresh registry, with the process series and build info. */
export function createConnectorMetrics(budget: MemoryBudget, variant: 'lww' | 'cas'): ConnectorMetrics {
  const registry = new Registry();
  registry.register(new Gauge('asya_state_build_info', 'Always 1; the labels say what runs.', () => [[{ version: VERSION, variant, node: process.version }, 1] as const]));
  registerProcessMetrics(registry);
  const metrics: ConnectorMetrics = {
    registry,
    requests: registry.register(new Counter('asya_state_requests_total', 'Protocol requests answered, by operation and HTTP status.')),
    requestSeconds: registry.register(new Histogram('asya_state_request_duration_seconds', 'Protocol request latency, by operation.', LATENCY_BOUNDS_SECONDS)),
    inFlight: 0,
    gcsRequests: registry.register(new Counter('asya_state_gcs_requests_total', 'GCS requests sent, by operation and outcome.')),
    gcsRequestSeconds: registry.register(new Histogram('asya_state_gcs_request_duration_seconds', 'GCS request latency until the answer headers, by operation and outcome class.', LATENCY_BOUNDS_SECONDS)),
    gcsRetries: registry.register(new Counter('asya_state_gcs_retries_total', 'GCS requests retried, by operation and reason.')),
    errors: registry.register(new Counter('asya_state_errors_total', 'Requests answered with an error, by the protocol error code.')),
    conflicts: registry.register(new Counter('asya_state_conflicts_total', 'Writes and deletes refused with 409, by reason.')),
    bytesIn: registry.register(new Counter('asya_state_received_bytes_total', 'Request body bytes received from clients.')),
    bytesOut: registry.register(new Counter('asya_state_sent_bytes_total', 'Response body bytes sent to clients.')),
    uploadsStreamed: registry.register(new Counter('asya_state_uploads_streamed_total', 'Uploads longer than one chunk (8 MiB, less on a small memory budget), streamed into a GCS resumable upload while they arrived.')),
    cacheHits: registry.register(new Counter('asya_state_cache_hits_total', 'Reads served from the read cache after GCS confirmed the generation.')),
    cacheMisses: registry.register(new Counter('asya_state_cache_misses_total', 'Reads downloaded from GCS while the read cache is on.')),
    cacheBytesSaved: registry.register(new Counter('asya_state_cache_bytes_saved_total', 'Bytes served from the read cache instead of downloaded.')),
    cacheEvictions: registry.register(new Counter('asya_state_cache_evictions_total', 'Read cache entries evicted to stay within the budget.')),
    cacheSize: { usedBytes: 0, entryCount: 0 },
    connectionsRefused: registry.register(new Counter('asya_state_connections_refused_total', 'Connections refused at the cap (503, then closed: reason cap) or closed while idle to make room for a new one (the ops port: reason idle_closed), by listener.')),
    connectionGates: new Map(),
    listingNamesDropped: registry.register(new Counter('asya_state_listing_names_dropped_total', 'Object names left out of listings because they are not valid keys.')),
    queryDocumentsRead: registry.register(new Counter('asya_state_query_documents_read_total', 'Documents read by POST /query.')),
    queryBytesRead: registry.register(new Counter('asya_state_query_read_bytes_total', 'Bytes of documents read by POST /query.')),
    queryFilesSkipped: registry.register(new Counter('asya_state_query_files_skipped_total', 'Files POST /query left out: not JSON, over 1 MiB, or deleted while it ran.')),
    queryFilesUnread: registry.register(new Counter('asya_state_query_files_unread_total', 'Files POST /query left unread because it reached its caps (the first 1,000 files, 256 MiB).')),
  };
  registry.register(new Gauge('asya_state_connections_open', 'Connections open now, by listener.', () => [...metrics.connectionGates].map(([listener, gate]) => [{ listener }, gate.openConnections] as const)));
  registry.register(new Gauge('asya_state_memory_budget_bytes', 'The memory budget: bytes the connector may hold for requests.', () => budget.limitBytes));
  registry.register(new Gauge('asya_state_memory_budget_used_bytes', 'Bytes of the memory budget held now, by use.', () => BUDGET_USES.map((use) => [{ use }, budget.used(use)] as const)));
  registry.register(new Gauge('asya_state_memory_budget_waiting', 'Request bodies waiting for room in the memory budget before they are read.', () => budget.waiting));
  registry.register(new Gauge('asya_state_memory_budget_refusals_total', 'Reservations the memory budget could not grant at once, by use (a body then waits its turn; a connection or listing is answered 503).', () => BUDGET_USES.map((use) => [{ use }, budget.refusals(use)] as const), 'counter'));
  registry.register(new Gauge('asya_state_requests_in_flight', 'Protocol requests being served.', () => metrics.inFlight));
  registry.register(new Gauge('asya_state_cache_bytes', 'Bytes in the read cache directory, files being written included.', () => metrics.cacheSize.usedBytes));
  registry.register(new Gauge('asya_state_cache_entries', 'Objects in the read cache.', () => metrics.cacheSize.entryCount));
  return metrics;
}
