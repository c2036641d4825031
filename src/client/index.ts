/**
 * The client library for TypeScript handlers: an fs-like client for a state mount,
 * transparent `node:fs` hooks driven by `ASYA_STATE_PROXY_MOUNTS`, and the conflict-retry
 * runner. See docs/client.md.
 */
export { StateClient, type StateClientOptions, type PathLike, type WriteFileOptions } from './state-client.ts';
export type { StateQuery, StateQueryResult } from './protocol-client.ts';
export { StateFileHandle, type ReadResult, type WriteResult } from './file-handle.ts';
export { StateReadStream, StateWriteStream, type ReadStreamOptions, type WriteStreamOptions } from './streams.ts';
export { StateStats, StateDirent, type StatsData, type DirentData } from './stats.ts';
export { StateFsError, isConflictError, type ExistsReason } from './fs-errors.ts';
export { installStateHooks, type StateHooksOptions, type InstalledStateHooks } from './fs-hooks.ts';
export { parseMounts, mountOf, DEFAULT_SOCKET_DIR, type StateMount } from './mounts.ts';
export { runWithConflictRetry, isRetryableConflict, type ConflictRetryOptions, type RetryInfo } from './conflict-retry.ts';
