/**
 * Readiness: has the bucket answered recently? Every GCS outcome of ordinary traffic is
 * noted; when the last one is a success younger than the freshness window the answer is
 * immediate, otherwise one probe (shared by concurrent callers) decides.
 */

export interface BackendHealthOptions {
  /** Lists one name in the bucket; throws when the bucket does not answer properly. */
  readonly probe: () => Promise<void>;
  /** How long a success counts as "recent". */
  readonly freshnessMs: number;
}

export class BackendHealth {
  readonly #options: BackendHealthOptions;
  #lastSuccess = 0;
  #lastFailure = 0;
  #lastError: unknown;
  #probing: Promise<boolean> | undefined;

  constructor(options: BackendHealthOptions) {
    this.#options = options;
  }

  /** Records the outcome of a GCS request: an HTTP status or an error code. */
  note(outcome: string): void {
    const status = Number(outcome);
    if (Number.isInteger(status) && status < 500 && status !== 429) this.#lastSuccess = Date.now();
    else this.#lastFailure = Date.now();
  }

  /** Why the backend is not ready, when it is not. */
  get lastError(): unknown {
    return this.#lastError;
  }

  async ready(): Promise<boolean> {
    if (this.#lastSuccess > this.#lastFailure && Date.now() - this.#lastSuccess < this.#options.freshnessMs) return true;
    this.#probing ??= this.#options.probe().then(
      () => true,
      (error: unknown) => {
        this.#lastError = error;
        return false;
      },
    ).finally(() => { this.#probing = undefined; });
    return this.#probing;
  }
}
