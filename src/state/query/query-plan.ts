/**
 * A `/query` request body, checked once and compiled: the filter into one predicate, the
 * sort into field paths. Every refusal is a BadRequestError saying what to fix.
 */
import { BadRequestError } from '../../errors.ts';
import { compareSameKind, fieldValue, filterEquals, isPlainObject, membership } from './json-values.ts';

/** Rows a query answers at most; `limit` 0 or absent means this many (as Asya). */
export const MAX_QUERY_ROWS = 10_000;

/** One sort key: a field path, ascending unless `descending`. */
export interface SortKey {
  readonly field: string;
  readonly path: readonly string[];
  readonly descending: boolean;
}

export interface QueryPlan {
  /** Mount-relative key prefix, not yet checked against the key rules. */
  readonly prefix: string;
  /** True for a document every filter condition holds for. */
  readonly matches: (document: unknown) => boolean;
  readonly sort: readonly SortKey[];
  /** Rows to answer: 1..MAX_QUERY_ROWS. */
  readonly limit: number;
  readonly offset: number;
}

const FIELDS = ['prefix', 'filter', 'sort', 'limit', 'offset'] as const;
/** Asya's field-name rule: a dotted path of identifiers. */
const FIELD_NAME = /^[a-zA-Z_][a-zA-Z0-9_.]*$/;
const OPERATORS = ['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists'] as const;
type Operator = (typeof OPERATORS)[number];
/** Distinct sort fields a query may name; a repeated field adds nothing and is dropped. */
export const MAX_SORT_FIELDS = 32;
/** Nesting a filter value may have; deeper is refused rather than compared. */
const MAX_VALUE_DEPTH = 32;

type Condition = (document: unknown) => boolean;

/** Parses a query body (UTF-8 JSON; empty means `{}`). */
export function parseQueryPlan(body: string): QueryPlan {
  let parsed: unknown = {};
  if (body.trim() !== '') {
    try {
      parsed = JSON.parse(body);
    } catch (error) {
      throw new BadRequestError(`the query body must be JSON (${(error as Error).message}); send {"prefix", "filter", "sort", "limit", "offset"}, all optional`);
    }
  }
  if (!isPlainObject(parsed)) throw new BadRequestError('the query body must be a JSON object: {"prefix", "filter", "sort", "limit", "offset"}, all optional');
  for (const name of Object.keys(parsed)) {
    if (!(FIELDS as readonly string[]).includes(name)) throw new BadRequestError(`unknown query field ${JSON.stringify(name.slice(0, 64))}; known: ${FIELDS.join(', ')}`);
  }
  const limit = wholeNumber(parsed.limit, 'limit');
  return {
    prefix: prefixOf(parsed.prefix),
    matches: compileFilter(parsed.filter),
    sort: sortKeys(parsed.sort),
    limit: limit === 0 || limit > MAX_QUERY_ROWS ? MAX_QUERY_ROWS : limit,
    offset: wholeNumber(parsed.offset, 'offset'),
  };
}

function prefixOf(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new BadRequestError(`"prefix" must be a string (a key prefix under the mount), got ${typeName(value)}`);
  return value;
}

function wholeNumber(value: unknown, name: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new BadRequestError(`"${name}" must be a whole number, 0 or more, got ${typeof value === 'number' ? String(value) : typeName(value)}`);
  }
  return value;
}

function fieldPath(name: string, where: string): string[] {
  if (!FIELD_NAME.test(name)) {
    const hint = name.startsWith('$') ? '; combinators such as $and and $or are not supported, list the fields to AND them' : '';
    throw new BadRequestError(`${where} ${JSON.stringify(name.slice(0, 64))} is not a field name (letters, digits, "_" and "." for nested fields, not starting with a digit)${hint}`);
  }
  const path = name.split('.');
  if (path.includes('')) throw new BadRequestError(`${where} ${JSON.stringify(name.slice(0, 64))} has an empty part between dots`);
  return path;
}

function sortKeys(value: unknown): SortKey[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new BadRequestError(`"sort" must be an array of field names ("-name" for descending), got ${typeName(value)}`);
  // Rows equal on a field are still equal on it later in the list: only its first mention orders.
  const keys = new Map<string, SortKey>();
  for (const entry of value as unknown[]) {
    if (typeof entry !== 'string') throw new BadRequestError(`"sort" entries must be field names as strings, got ${typeName(entry)}`);
    const descending = entry.startsWith('-');
    const field = descending ? entry.slice(1) : entry;
    if (keys.has(field)) continue;
    if (keys.size === MAX_SORT_FIELDS) throw new BadRequestError(`"sort" names more than ${MAX_SORT_FIELDS} distinct fields; sort on at most ${MAX_SORT_FIELDS}`);
    keys.set(field, { field, path: fieldPath(field, 'sort field'), descending });
  }
  return [...keys.values()];
}

function compileFilter(value: unknown): Condition {
  if (value === undefined || value === null) return () => true;
  if (!isPlainObject(value)) throw new BadRequestError(`"filter" must be an object of field: value pairs, got ${typeName(value)}`);
  const conditions: Condition[] = [];
  for (const [name, given] of Object.entries(value)) {
    const path = fieldPath(name, 'filter field');
    checkDepth(given, name);
    for (const test of fieldConditions(name, given)) conditions.push((document) => test(fieldValue(document, path)));
  }
  return (document) => conditions.every((condition) => condition(document));
}

/** The tests one filter entry makes of its field's value. */
function fieldConditions(name: string, given: unknown): Array<(field: unknown) => boolean> {
  if (!isPlainObject(given)) return [(field) => filterEquals(field, given)];
  const names = Object.keys(given);
  const operators = names.filter((key) => key.startsWith('$'));
  if (operators.length === 0) return [(field) => filterEquals(field, given)];
  if (operators.length !== names.length) {
    throw new BadRequestError(`filter field "${name}" mixes operators and plain keys; use either {"$op": value} or a plain object to match whole`);
  }
  return operators.map((operator) => operatorTest(name, operator, given[operator]));
}

function operatorTest(name: string, operator: string, operand: unknown): (field: unknown) => boolean {
  if (!(OPERATORS as readonly string[]).includes(operator)) {
    throw new BadRequestError(`filter field "${name}": unknown operator ${JSON.stringify(operator.slice(0, 32))}; known: ${OPERATORS.join(', ')}`);
  }
  switch (operator as Operator) {
    case '$eq': return (field) => filterEquals(field, operand);
    case '$ne': return (field) => field !== undefined && !filterEquals(field, operand);
    case '$gt': return (field) => (compareSameKind(field, operand) ?? 0) > 0;
    case '$gte': return (field) => (compareSameKind(field, operand) ?? -1) >= 0;
    case '$lt': return (field) => (compareSameKind(field, operand) ?? 0) < 0;
    case '$lte': return (field) => (compareSameKind(field, operand) ?? 1) <= 0;
    case '$in': {
      const isMember = membership(listOperand(name, operator, operand));
      return (field) => isMember(field);
    }
    case '$nin': {
      const isMember = membership(listOperand(name, operator, operand));
      return (field) => field !== undefined && !isMember(field);
    }
    case '$exists': {
      if (typeof operand !== 'boolean') throw new BadRequestError(`filter field "${name}": $exists takes true or false, got ${typeName(operand)}`);
      return (field) => (field !== undefined) === operand;
    }
  }
}

function listOperand(name: string, operator: string, operand: unknown): readonly unknown[] {
  if (!Array.isArray(operand)) throw new BadRequestError(`filter field "${name}": ${operator} takes an array of values, got ${typeName(operand)}`);
  return operand;
}

function checkDepth(value: unknown, name: string, depth = 0): void {
  if (typeof value !== 'object' || value === null) return;
  if (depth >= MAX_VALUE_DEPTH) throw new BadRequestError(`filter field "${name}": the value nests deeper than ${MAX_VALUE_DEPTH} levels`);
  for (const member of Object.values(value)) checkDepth(member, name, depth + 1);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
