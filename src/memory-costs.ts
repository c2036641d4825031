/**
 * What the memory budget charges, in one place. Every request that can hold memory
 * reserves its cost here before it allocates; the costs are coarse upper bounds, not
 * measurements of one load, so that a reader can add them up. docs/memory.md explains
 * each and shows the runs that check them.
 */

const KIB = 1024;

/** An open connection: its socket, parser and request objects. */
export const CONNECTION_COST = 16 * KIB;

/**
 * One name of a listing in flight: the name (GCS allows 1,024 bytes) in GCS's JSON answer,
 * as the parsed string, and again in the JSON the client gets, plus the entry around it.
 */
const LISTING_NAME_COST = 4 * KIB;
/** Names a listing asks GCS for in one page when the client did not choose (GCS's most). */
export const LISTING_PAGE_NAMES = 1000;

/** A listing in flight, one page of `pageNames` names at a time. */
export function listingCost(pageNames: number): number {
  return 64 * KIB + pageNames * LISTING_NAME_COST;
}

/**
 * A small JSON request body (a query, an attribute): the bytes, then the value parsed from
 * them, which for long arrays of short values takes several times the text.
 */
export function jsonBodyCost(bodyBytes: number): number {
  return 8 * bodyBytes;
}

/**
 * A document a query reads and parses: its bytes as they arrive and joined, the text
 * decoded from them, and the value parsed from the text (objects of a few bytes of JSON
 * each take several times their text once parsed).
 */
export function documentCost(bytes: number): number {
  return 6 * bytes;
}

/** One listed file a query holds while it reads: its key (two bytes a character) and the entry. */
export function listedFileCost(keyLength: number): number {
  return 2 * keyLength + 64;
}

/** Files a query holds from its listing at most: its key (up to 1,024 characters) and the entry each. */
export function queryListingCost(files: number): number {
  return files * listedFileCost(1024);
}

/**
 * A row a query keeps for its answer: the document's bytes and the values it sorts on.
 * Values are charged as JavaScript holds them: 16 bytes a number or literal, two bytes a
 * character, and per member of an array or object 16 bytes besides the member itself.
 */
export function keptRowCost(documentBytes: number, sortValues: readonly unknown[]): number {
  let cost = documentBytes + 64;
  for (const value of sortValues) cost += valueCost(value, 0);
  return cost;
}

/** Nesting past this is charged as the deepest level; JSON.parse already bounded the depth by the document's size. */
const MAX_CHARGED_DEPTH = 64;

function valueCost(value: unknown, depth: number): number {
  if (typeof value === 'string') return 16 + 2 * value.length;
  if (typeof value !== 'object' || value === null || depth >= MAX_CHARGED_DEPTH) return 16;
  let cost = 32;
  if (Array.isArray(value)) {
    for (const member of value) cost += 16 + valueCost(member, depth + 1);
    return cost;
  }
  for (const [key, member] of Object.entries(value)) cost += 32 + 2 * key.length + valueCost(member, depth + 1);
  return cost;
}

/**
 * A range of a large download: its buffer, and as much again for the socket buffers it
 * arrived in and the pieces written out of it, garbage until the collector takes them.
 */
export function rangeCost(rangeBytes: number): number {
  return 2 * rangeBytes;
}

/** A key the CAS variant remembers: a 128-bit digest of the name, the generation, the LRU links. */
export const CAS_KEY_COST = 128;

/** An entry of the read-cache index: the key, the generation, the file's path. */
export const CACHE_ENTRY_COST = 2 * KIB;
