/**
 * What the GCS store tells the rest of the connector about its requests: every attempt's
 * outcome and every retry. These are per HTTP attempt, below the ObjectStore interface
 * (one `write` may be many requests), so they are reported from here rather than by a
 * wrapper around the store; the wiring turns them into metrics and readiness.
 */
export interface GcsObserver {
  /** A request was answered (`outcome`: the HTTP status) or failed without an answer (`outcome`: the store error kind), after `seconds`, until the answer's headers. */
  answered(op: string, outcome: string, seconds: number): void;
  /** Attempt `attempt` of `op` failed with `error`, and another follows. */
  retried(op: string, error: unknown, attempt: number): void;
}

/** An observer that notes nothing: for tools and tests that talk to GCS directly. */
export const UNOBSERVED: GcsObserver = {
  answered: () => undefined,
  retried: () => undefined,
};
