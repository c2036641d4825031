/**
 * How `/query` reads and compares JSON values: dotted field paths, equality with Asya's
 * string-comparison meaning, and one total order for sorting (docs/protocol.md, "POST
 * /query").
 */

/** Deeper than this, arrays and objects compare as equal: a hostile document cannot exhaust the stack. */
const MAX_COMPARE_DEPTH = 32;

/** The value at a dotted path, or undefined when the path leads nowhere (a missing field, or through a non-object). */
export function fieldValue(document: unknown, path: readonly string[]): unknown {
  let value = document;
  for (const part of path) {
    if (!isPlainObject(value) || !Object.hasOwn(value, part)) return undefined;
    value = value[part];
  }
  return value;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Equality as a filter means it. Asya compares the field and the given value as strings,
 * so a string and a number or boolean are equal when their texts are (`"30"` and `30`);
 * values of one type compare as themselves (numbers numerically, arrays and objects
 * member by member). A missing field equals nothing.
 */
export function filterEquals(field: unknown, given: unknown): boolean {
  if (field === undefined) return false;
  if (typeof field === 'string' && (typeof given === 'number' || typeof given === 'boolean')) return field === String(given);
  if (typeof given === 'string' && (typeof field === 'number' || typeof field === 'boolean')) return given === String(field);
  return collate(field, given) === 0;
}

/**
 * `filterEquals(field, option)` for some option, in constant time for scalar options (a
 * `$in` of 400,000 values is one lookup per document, not 400,000 comparisons). A scalar
 * is filed under its kind and text: a string option matches a string field of that text
 * and a number or boolean whose text it is; a number or boolean option matches itself and
 * the string of its text. Arrays and objects are compared one by one.
 */
export function membership(options: readonly unknown[]): (field: unknown) => boolean {
  const scalars = new Set<string>();
  const composites: unknown[] = [];
  for (const option of options) {
    const key = scalarKey(option);
    if (key === undefined) composites.push(option);
    else scalars.add(key);
  }
  return (field) => {
    switch (typeof field) {
      case 'undefined': return false;
      case 'string': return scalars.has(`s${field}`) || scalars.has(`n${field}`) || scalars.has(`b${field}`);
      case 'number': case 'boolean': return scalars.has(scalarKey(field) as string) || scalars.has(`s${String(field)}`);
      default: return field === null ? scalars.has('z') : composites.some((option) => filterEquals(field, option));
    }
  };
}

function scalarKey(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string': return `s${value}`;
    case 'number': return `n${String(value)}`;
    case 'boolean': return `b${String(value)}`;
    default: return value === null ? 'z' : undefined;
  }
}

/**
 * The order of values of one kind, for `$gt`, `$gte`, `$lt` and `$lte`: undefined when
 * the two are of different kinds (a number is neither above nor below a string).
 */
export function compareSameKind(field: unknown, given: unknown): number | undefined {
  if (field === undefined || rank(field) !== rank(given)) return undefined;
  return collate(field, given);
}

/**
 * One total order over JSON values, CouchDB's: null < false < true < numbers < strings
 * (by Unicode code point) < arrays (member by member) < objects (key, then value, pair by
 * pair). Missing values (undefined) sort after everything.
 */
export function collate(a: unknown, b: unknown, depth = 0): number {
  const rankA = rank(a);
  const rankB = rank(b);
  if (rankA !== rankB) return rankA - rankB;
  switch (rankA) {
    case Rank.False: case Rank.True: case Rank.Null: case Rank.Missing: return 0;
    case Rank.Number: return (a as number) - (b as number);
    case Rank.String: return compareCodePoints(a as string, b as string);
    case Rank.Array: return depth >= MAX_COMPARE_DEPTH ? 0 : compareArrays(a as unknown[], b as unknown[], depth + 1);
    default: return depth >= MAX_COMPARE_DEPTH ? 0 : compareObjects(a as Record<string, unknown>, b as Record<string, unknown>, depth + 1);
  }
}

const Rank = { Null: 0, False: 1, True: 2, Number: 3, String: 4, Array: 5, Object: 6, Missing: 7 } as const;
type Rank = (typeof Rank)[keyof typeof Rank];

function rank(value: unknown): Rank {
  switch (typeof value) {
    case 'undefined': return Rank.Missing;
    case 'boolean': return value ? Rank.True : Rank.False;
    case 'number': return Rank.Number;
    case 'string': return Rank.String;
    default: return value === null ? Rank.Null : Array.isArray(value) ? Rank.Array : Rank.Object;
  }
}

function compareArrays(a: readonly unknown[], b: readonly unknown[], depth: number): number {
  const shared = Math.min(a.length, b.length);
  for (let i = 0; i < shared; i++) {
    const order = collate(a[i], b[i], depth);
    if (order !== 0) return order;
  }
  return a.length - b.length;
}

function compareObjects(a: Record<string, unknown>, b: Record<string, unknown>, depth: number): number {
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  const shared = Math.min(keysA.length, keysB.length);
  for (let i = 0; i < shared; i++) {
    const keyA = keysA[i] as string;
    const keyB = keysB[i] as string;
    const order = compareCodePoints(keyA, keyB) || collate(a[keyA], b[keyB], depth);
    if (order !== 0) return order;
  }
  return keysA.length - keysB.length;
}

/**
 * Orders strings by Unicode code point, as UTF-8 bytes would (and as Asya's DuckDB does);
 * JavaScript's `<` orders UTF-16 units, which puts U+E000..U+FFFF after astral characters.
 */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const shared = Math.min(a.length, b.length);
  for (let i = 0; i < shared; i++) {
    const unitA = a.charCodeAt(i);
    const unitB = b.charCodeAt(i);
    if (unitA !== unitB) return codePointOrder(unitA) - codePointOrder(unitB);
  }
  return a.length - b.length;
}

/** Moves surrogates (astral characters) above U+E000..U+FFFF, keeping every other order. */
function codePointOrder(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  if (unit >= 0xd800) return unit + 0x2000;
  return unit;
}
