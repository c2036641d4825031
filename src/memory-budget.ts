/**
 * The connector's one memory budget. Every byte it holds on behalf of requests is
 * reserved here first: request bodies held in memory, ranges of large downloads, listings being streamed,
 * queries, open
 * connections, the CAS generation memory and the read-cache index. A reservation that
 * does not fit is refused (the caller answers 503 `unavailable` or does without) or, for
 * request bodies, waits its turn until one that holds memory gives it back; nothing
 * already admitted is dropped.
 *
 * The default size is a share of the container's memory limit (the cgroup limit Node
 * reads with `process.constrainedMemory()`) minus what the process uses before serving,
 * so the whole process stays under the limit whatever the load.
 */
import { UnavailableError } from './errors.ts';

/** What a reservation holds memory for; the label of the budget's metrics. */
export type BudgetUse = 'body' | 'download' | 'listing' | 'query' | 'connection' | 'cas_memory' | 'cache_index';

export const BUDGET_USES: readonly BudgetUse[] = ['body', 'download', 'listing', 'query', 'connection', 'cas_memory', 'cache_index'];

const MIB = 1024 * 1024;
/** Assumed when the process runs without a memory limit: the seed's `limits.memory`. */
export const ASSUMED_LIMIT_BYTES = 128 * MIB;
/**
 * Share of (limit − baseline) given to the budget; the rest is headroom for what the
 * budget does not see: garbage between V8's collections (a body held in memory leaves
 * about its size again as spent socket buffers), code, and V8's young generation.
 * docs/memory.md gives the runs that chose it.
 */
const BUDGET_SHARE = 1 / 3;
const MIN_BUDGET_BYTES = 8 * MIB;
/** Larger than any real limit: `constrainedMemory()` answers 2^64 or 0 when there is none. */
const NO_LIMIT = 2 ** 52;

/** The container's memory limit in bytes, or undefined when the process has none. */
export function containerMemoryLimit(constrained: number = process.constrainedMemory()): number | undefined {
  return constrained <= 0 || constrained >= NO_LIMIT ? undefined : constrained;
}

/** The default budget: a third of what the limit leaves above the baseline, at least 8 MiB. */
export function defaultBudgetBytes(limitBytes: number | undefined, baselineBytes: number): number {
  const limit = limitBytes ?? ASSUMED_LIMIT_BYTES;
  return Math.max(MIN_BUDGET_BYTES, Math.floor((limit - baselineBytes) * BUDGET_SHARE));
}

/** A reservation waiting for room. */
interface Waiter {
  readonly bytes: number;
  readonly use: BudgetUse;
  readonly grant: () => void;
}

export class MemoryBudget {
  readonly limitBytes: number;
  readonly #used = new Map<BudgetUse, number>(BUDGET_USES.map((use) => [use, 0]));
  readonly #refusals = new Map<BudgetUse, number>(BUDGET_USES.map((use) => [use, 0]));
  readonly #waiters: Waiter[] = [];

  constructor(limitBytes: number) {
    if (!Number.isSafeInteger(limitBytes) || limitBytes <= 0) throw new RangeError(`memory budget must be a positive whole number of bytes, got ${limitBytes}`);
    this.limitBytes = limitBytes;
  }

  /** Reserves `bytes` for `use` when they fit; answers whether they did (a refusal is counted). */
  tryReserve(bytes: number, use: BudgetUse): boolean {
    if (this.usedBytes + bytes > this.limitBytes) {
      this.#refusals.set(use, (this.#refusals.get(use) ?? 0) + 1);
      return false;
    }
    this.#add(bytes, use);
    return true;
  }

  /** Reserves `bytes` for `what`, or throws a retryable UnavailableError (503) saying the connector is at its budget. */
  admit(bytes: number, use: BudgetUse, what: string): void {
    if (this.tryReserve(bytes, use)) return;
    throw new UnavailableError(
      `the connector is at its memory budget (${this.usedBytes} of ${this.limitBytes} bytes held, CONNECTOR_MEMORY_BUDGET) ` +
        `and cannot take ${what} now; retry shortly`,
    );
  }

  /**
   * Reserves `bytes` for `use` when they fit and no reservation waits for room (taking them
   * would jump the queue); answers whether it did (a refusal is counted). For memory a
   * request can do without (read-ahead, overlap), and the first try of `acquire`.
   */
  tryReserveInTurn(bytes: number, use: BudgetUse): boolean {
    if (this.#waiters.length === 0) return this.tryReserve(bytes, use);
    this.#refusals.set(use, (this.#refusals.get(use) ?? 0) + 1);
    return false;
  }

  /**
   * Reserves `bytes` for `what`, waiting first come, first served until they fit. Throws a
   * retryable UnavailableError (503) when `timeoutMs` passes first, and the signal's reason
   * when it aborts (the client left); either way nothing stays reserved. `signal` is asked
   * for only when the reservation has to wait.
   */
  async acquire(bytes: number, use: BudgetUse, what: string, timeoutMs: number, abortSignal?: () => AbortSignal): Promise<void> {
    if (bytes > this.limitBytes) throw new RangeError(`${what} needs ${bytes} bytes, more than the whole memory budget of ${this.limitBytes}`);
    if (this.tryReserveInTurn(bytes, use)) return;
    const signal = abortSignal?.();
    signal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const leave = (error: Error): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
        // The one that left may have been blocking smaller reservations behind it.
        this.#grantWaiters();
        reject(error);
      };
      const onAbort = (): void => {
        const reason: unknown = signal?.reason;
        leave(reason instanceof Error ? reason : new Error(String(reason)));
      };
      const timer = setTimeout(() => {
        leave(new UnavailableError(
          `the connector's memory budget stayed full for ${timeoutMs} ms (${this.usedBytes} of ${this.limitBytes} bytes held, ` +
            `CONNECTOR_MEMORY_BUDGET) and cannot take ${what} now; retry shortly`,
        ));
      }, timeoutMs);
      const waiter: Waiter = {
        bytes,
        use,
        grant: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /**
   * `acquire`, answering the reservation as an object that gives its bytes back, in parts
   * as the request learns it needs less, and wholly (once) when it ends. A cost larger
   * than half the budget is charged half the budget (a small budget's way of saying such
   * requests run at most two at a time), so that it can always be granted.
   */
  async hold(bytes: number, use: BudgetUse, what: string, timeoutMs: number, abortSignal?: () => AbortSignal): Promise<Reservation> {
    const held = Math.min(bytes, Math.floor(this.limitBytes / 2));
    await this.acquire(held, use, what, timeoutMs, abortSignal);
    return new Reservation(this, held, use);
  }

  /** Reservations waiting for room now. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Reserves `bytes` whether or not they fit: for memory already taken that must be accounted. */
  reserve(bytes: number, use: BudgetUse): void {
    this.#add(bytes, use);
  }

  /** Gives back `bytes` reserved for `use`. */
  release(bytes: number, use: BudgetUse): void {
    this.#add(-bytes, use);
    this.#grantWaiters();
  }

  /** Bytes held now, all uses together. */
  get usedBytes(): number {
    let total = 0;
    for (const bytes of this.#used.values()) total += bytes;
    return total;
  }

  /** Bytes held for `use` right now. */
  used(use: BudgetUse): number {
    return this.#used.get(use) ?? 0;
  }

  /** Reservations for `use` refused since start. */
  refusals(use: BudgetUse): number {
    return this.#refusals.get(use) ?? 0;
  }

  /** Grants waiting reservations in order while the first one fits. */
  #grantWaiters(): void {
    for (let first = this.#waiters[0]; first !== undefined && this.usedBytes + first.bytes <= this.limitBytes; first = this.#waiters[0]) {
      this.#waiters.shift();
      this.#add(first.bytes, first.use);
      first.grant();
    }
  }

  #add(bytes: number, use: BudgetUse): void {
    this.#used.set(use, (this.#used.get(use) ?? 0) + bytes);
  }
}

/** Bytes held in a MemoryBudget for one request. */
export class Reservation {
  readonly #budget: MemoryBudget;
  readonly #use: BudgetUse;
  #bytes: number;

  constructor(budget: MemoryBudget, bytes: number, use: BudgetUse) {
    this.#budget = budget;
    this.#bytes = bytes;
    this.#use = use;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Keeps only `bytes` (when less than held) and gives the rest back. */
  shrinkTo(bytes: number): void {
    const freed = this.#bytes - Math.max(0, bytes);
    if (freed <= 0) return;
    this.#bytes -= freed;
    this.#budget.release(freed, this.#use);
  }

  /** Gives everything back; safe to call again. */
  release(): void {
    this.shrinkTo(0);
  }
}
