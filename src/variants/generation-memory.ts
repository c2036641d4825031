/**
 * The CAS variant's memory: per object name, the generation last observed ("0" for
 * absent), least recently used first out, at most `capacity` names. Every entry is
 * counted in the memory budget, never refused by it: the capacity is what bounds it
 * (the wiring sizes it to a third of the budget), so a budget filled for a moment by
 * request bodies never pushes out a key a handler has just read.
 *
 * Names are kept as their 128-bit MD5 digest, not as text, so an entry costs the same
 * whatever the key's length (CAS_KEY_COST in memory-costs.ts). Two
 * names sharing a digest would share a generation; a write conditioned on the wrong
 * generation fails with a conflict (GCS generations are per-object timestamps), so a
 * collision, at odds of about n²/2^129, could cost a retry, never an update.
 *
 * Forgetting must not open a hole: a key read, then pushed out by other keys before its
 * write, would otherwise be written unconditionally and could overwrite a newer version.
 * So evicted names are kept in a compact filter of recent evictions (two rotating Bloom
 * filters, about 10 bits per name each) and such a write is answered with a conflict,
 * which makes the handler read again. The filter can err only towards a conflict (a
 * never-read key that collides), never towards a lost update within the last `capacity`
 * to `2 × capacity` evictions.
 */
import { createHash } from 'node:crypto';
import { CAS_KEY_COST } from '../memory-costs.ts';
import type { MemoryBudget } from '../memory-budget.ts';

const BITS_PER_ENTRY = 10;
const HASHES = 5;
/** Heap bytes one remembered name is charged (memory-costs.ts). */
export const ENTRY_BYTES = CAS_KEY_COST;

/** A name's digest: 16 one-byte characters. */
function digestOf(name: string): string {
  return createHash('md5').update(name).digest().toString('latin1');
}

/** Remembers which digests were added recently, approximately (no false negatives). */
class RecentDigests {
  readonly #capacity: number;
  readonly #bits: number;
  #current: Uint8Array;
  #previous: Uint8Array;
  #added = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
    this.#bits = Math.max(64, capacity * BITS_PER_ENTRY);
    this.#current = new Uint8Array(Math.ceil(this.#bits / 8));
    this.#previous = new Uint8Array(this.#current.length);
  }

  /** Bytes both filters take. */
  get bytes(): number {
    return this.#current.length * 2;
  }

  add(digest: string): void {
    if (this.#added >= this.#capacity) {
      this.#previous = this.#current;
      this.#current = new Uint8Array(this.#previous.length);
      this.#added = 0;
    }
    this.#added += 1;
    for (const bit of this.#positions(digest)) {
      const index = bit >>> 3;
      this.#current[index] = (this.#current[index] ?? 0) | (1 << (bit & 7));
    }
  }

  has(digest: string): boolean {
    const positions = this.#positions(digest);
    const inFilter = (filter: Uint8Array): boolean => positions.every((bit) => ((filter[bit >>> 3] ?? 0) & (1 << (bit & 7))) !== 0);
    return inFilter(this.#current) || inFilter(this.#previous);
  }

  #positions(digest: string): number[] {
    // Double hashing (Kirsch–Mitzenmacher) over two 32-bit words of the digest.
    const word = (at: number): number =>
      (digest.charCodeAt(at) | (digest.charCodeAt(at + 1) << 8) | (digest.charCodeAt(at + 2) << 16) | (digest.charCodeAt(at + 3) << 24)) >>> 0;
    const h1 = word(0);
    const h2 = word(4) | 1;
    const positions: number[] = [];
    for (let i = 0; i < HASHES; i++) positions.push(((h1 + Math.imul(i, h2)) >>> 0) % this.#bits);
    return positions;
  }
}

/** What the memory says of a name about to be written. */
export type Recollection =
  | { readonly kind: 'observed'; readonly generation: string }
  | { readonly kind: 'evicted' }
  | { readonly kind: 'unknown' };

export class GenerationMemory {
  readonly #capacity: number;
  readonly #entries = new Map<string, string>();
  readonly #evicted: RecentDigests;
  readonly #budget: MemoryBudget | undefined;
  #evictions = 0;

  /** Holds up to `capacity` names; with a `budget`, each entry is counted there. */
  constructor(capacity: number, budget?: MemoryBudget) {
    this.#capacity = capacity;
    this.#evicted = new RecentDigests(capacity);
    this.#budget = budget;
    budget?.reserve(this.#evicted.bytes, 'cas_memory');
  }

  /** Records the generation observed for `name` ("0": observed absent). */
  remember(name: string, generation: string): void {
    const digest = digestOf(name);
    if (this.#entries.delete(digest)) {
      this.#entries.set(digest, generation);
      return;
    }
    // At capacity the oldest name's reservation passes to the newcomer.
    if (this.#entries.size >= this.#capacity) this.#evictOldest();
    else this.#budget?.reserve(ENTRY_BYTES, 'cas_memory');
    this.#entries.set(digest, generation);
  }

  recall(name: string): Recollection {
    const digest = digestOf(name);
    const generation = this.#entries.get(digest);
    if (generation !== undefined) return { kind: 'observed', generation };
    return this.#evicted.has(digest) ? { kind: 'evicted' } : { kind: 'unknown' };
  }

  forget(name: string): void {
    if (this.#entries.delete(digestOf(name))) this.#budget?.release(ENTRY_BYTES, 'cas_memory');
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Names pushed out since start. */
  get evictions(): number {
    return this.#evictions;
  }

  /** Pushes out the least recently used name into the filter of recent evictions. */
  #evictOldest(): void {
    const oldest = this.#entries.keys().next().value;
    if (oldest === undefined) return;
    this.#entries.delete(oldest);
    this.#evicted.add(oldest);
    this.#evictions += 1;
  }
}
