/** Builds the GCS ObjectStore from the configuration. */
import type { Config } from '../config.ts';
import { createCredentials } from '../store/gcs/credentials.ts';
import { GcsHttp } from '../store/gcs/gcs-http.ts';
import { GcsObjectStore } from '../store/gcs/gcs-store.ts';
import type { RangeMemory } from '../store/gcs/ranged-download.ts';

export interface GcsStoreHooks {
  /** Every GCS request's outcome (an HTTP status or an error code) and its seconds until the answer headers. */
  readonly onOutcome: (op: string, outcome: string, seconds: number) => void;
  /** Every retry, with the error that caused it. */
  readonly onRetry: (op: string, error: unknown, attempt: number) => void;
}

/** Where GCS requests go: the emulator, or GCS itself. */
export function gcsOrigin(config: Pick<Config, 'emulatorOrigin' | 'apiOrigin'>): string {
  return config.emulatorOrigin ?? config.apiOrigin;
}

/** Builds the store; with `rangeMemory`, large downloads are read in parallel ranges held there. */
export function createGcsStore(config: Config, hooks: GcsStoreHooks, rangeMemory?: RangeMemory): GcsObjectStore {
  const origin = gcsOrigin(config);
  const credentials = createCredentials({
    anonymous: config.emulatorOrigin !== undefined,
    project: config.project,
    keyFile: config.credentialsFile,
    metadataHost: config.metadataHost,
  });
  const http = new GcsHttp({
    origin,
    credentials,
    timeoutMs: config.gcsTimeoutMs,
    connections: 128,
    onOutcome: hooks.onOutcome,
  });
  return new GcsObjectStore({
    bucket: config.bucket,
    http,
    signer: credentials,
    signingOrigin: origin,
    timeoutMs: config.gcsTimeoutMs,
    retry: { maxAttempts: config.gcsMaxAttempts, baseDelayMs: 100, maxDelayMs: 5_000 },
    onRetry: hooks.onRetry,
    ranges: rangeMemory === undefined ? undefined : { rangeBytes: config.readRangeBytes, streams: config.readStreams, memory: rangeMemory },
  });
}
