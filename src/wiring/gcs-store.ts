/** Builds the GCS ObjectStore from the configuration, and what it observes into metrics and readiness. */
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { ConnectorMetrics } from '../metrics/connector-metrics.ts';
import type { BackendHealth } from '../store/backend-health.ts';
import { createCredentials } from '../store/gcs/credentials.ts';
import { GcsHttp } from '../store/gcs/gcs-http.ts';
import type { GcsObserver } from '../store/gcs/gcs-observer.ts';
import { GcsObjectStore } from '../store/gcs/gcs-store.ts';
import type { RangeMemory } from '../store/gcs/ranged-download.ts';
import { StoreError } from '../store/store-error.ts';

/** Where GCS requests go: the emulator, or GCS itself. */
export function gcsOrigin(config: Pick<Config, 'emulatorOrigin' | 'apiOrigin'>): string {
  return config.emulatorOrigin ?? config.apiOrigin;
}

/** Builds the store; with `rangeMemory`, large downloads are read in parallel ranges held there. */
export function createGcsStore(config: Config, observer: GcsObserver, rangeMemory?: RangeMemory): GcsObjectStore {
  const origin = gcsOrigin(config);
  const credentials = createCredentials({
    anonymous: config.emulatorOrigin !== undefined,
    project: config.project,
    keyFile: config.credentialsFile,
    metadataHost: config.metadataHost,
  });
  const http = new GcsHttp({ origin, credentials, timeoutMs: config.gcsTimeoutMs, connections: 128, observer });
  return new GcsObjectStore({
    bucket: config.bucket,
    http,
    signer: credentials,
    signingOrigin: origin,
    timeoutMs: config.gcsTimeoutMs,
    retry: { maxAttempts: config.gcsMaxAttempts, baseDelayMs: 100, maxDelayMs: 5_000 },
    ranges: rangeMemory === undefined ? undefined : { rangeBytes: config.readRangeBytes, streams: config.readStreams, memory: rangeMemory },
  });
}

/** Every GCS answer counted and fed to readiness; every retry counted (the final failure is logged at the edge, failure-log.ts). */
export function gcsObserver(metrics: ConnectorMetrics, health: BackendHealth, logger: Logger): GcsObserver {
  return {
    answered(op, outcome, seconds) {
      metrics.gcsRequests.inc({ op, outcome });
      metrics.gcsRequestSeconds.observe({ op, outcome: outcomeClass(outcome) }, seconds);
      health.note(outcome);
    },
    retried(op, error, attempt) {
      const reason = error instanceof StoreError ? error.kind : 'unknown';
      metrics.gcsRetries.inc({ op, reason });
      logger.debug(`retrying GCS ${op} after attempt ${attempt}: ${error instanceof Error ? error.message : String(error)}`, { op, reason, attempt });
    },
  };
}

/** `200` → `2xx`; a transport error code stays `error`. */
function outcomeClass(outcome: string): string {
  const first = outcome.charCodeAt(0);
  // Called for every GCS request: a character test, no regular expression, no new string.
  return outcome.length === 3 && first >= 0x31 && first <= 0x35 ? OUTCOME_CLASSES[first - 0x31] ?? 'error' : 'error';
}

const OUTCOME_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
