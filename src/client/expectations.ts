/**
 * The client's memory of the generation it last saw per key (an ETag from a read or a
 * write, or "absent" after a read that found nothing), bounded, least recently used out
 * first. A forgotten key only means the next write goes without a precondition from the
 * client, exactly as for a key never read.
 */

/** What the client knows of a key's current object. */
export type Expectation = { readonly generation: string } | 'absent';

export class ExpectationMemory {
  readonly #entries = new Map<string, Expectation>();
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get(key: string): Expectation | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: Expectation): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    if (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
  }

  forget(key: string): void {
    this.#entries.delete(key);
  }
}
