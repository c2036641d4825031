/**
 * The CAS variant's memory: per object name, the generation last observed ("0" for
 * absent), least recently used first out, at most `capacity` names.
 *
 * Forgetting must not open a hole: a key read, then pushed out by `capacity` other keys
 * before its write, would otherwise be written unconditionally and could overwrite a
 * newer version. So evicted names are kept in a compact filter of recent evictions
 * (two rotating Bloom filters, about 10 bits per name each) and such a write is answered
 * with a conflict, which makes the handler read again. The filter can err only towards
 * a conflict (a never-read key that collides), never towards a lost update within the
 * last `capacity` to `2 × capacity` evictions.
 */

const BITS_PER_ENTRY = 10;
const HASHES = 5;

/** Remembers which names were added recently, approximately (no false negatives). */
class RecentNames {
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

  add(name: string): void {
    if (this.#added >= this.#capacity) {
      this.#previous = this.#current;
      this.#current = new Uint8Array(this.#previous.length);
      this.#added = 0;
    }
    this.#added += 1;
    for (const bit of this.#positions(name)) {
      const index = bit >>> 3;
      this.#current[index] = (this.#current[index] ?? 0) | (1 << (bit & 7));
    }
  }

  has(name: string): boolean {
    const positions = this.#positions(name);
    const inFilter = (filter: Uint8Array): boolean => positions.every((bit) => ((filter[bit >>> 3] ?? 0) & (1 << (bit & 7))) !== 0);
    return inFilter(this.#current) || inFilter(this.#previous);
  }

  #positions(name: string): number[] {
    // Double hashing over two FNV-1a variants (Kirsch–Mitzenmacher).
    let h1 = 0x811c9dc5;
    let h2 = 0x01000193;
    for (let i = 0; i < name.length; i++) {
      const c = name.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    }
    h2 |= 1;
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
  readonly #evicted: RecentNames;
  #evictions = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
    this.#evicted = new RecentNames(capacity);
  }

  /** Records the generation observed for `name` ("0": observed absent). */
  remember(name: string, generation: string): void {
    this.#entries.delete(name);
    this.#entries.set(name, generation);
    if (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) {
        this.#entries.delete(oldest);
        this.#evicted.add(oldest);
        this.#evictions += 1;
      }
    }
  }

  recall(name: string): Recollection {
    const generation = this.#entries.get(name);
    if (generation !== undefined) return { kind: 'observed', generation };
    return this.#evicted.has(name) ? { kind: 'evicted' } : { kind: 'unknown' };
  }

  forget(name: string): void {
    this.#entries.delete(name);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Names pushed out since start. */
  get evictions(): number {
    return this.#evictions;
  }
}
