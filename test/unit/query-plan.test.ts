/** `/query` logic without I/O: the value order, equality's meaning, and the plan a body compiles to. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collate, compareCodePoints, fieldValue, filterEquals, membership } from '../../src/state/query/json-values.ts';
import { MAX_QUERY_ROWS, MAX_SORT_FIELDS, parseQueryPlan } from '../../src/state/query/query-plan.ts';
import { keptRowCost } from '../../src/memory-costs.ts';

describe('query value order', () => {
  it('orders kinds as CouchDB does: null, false, true, numbers, strings, arrays, objects, then missing', () => {
    const ordered = [null, false, true, -1, 2, 10, '10', '9', 'a', [], [1], [1, 2], {}, { a: 1 }, { b: 0 }, undefined];
    const shuffled = [...ordered].reverse();
    shuffled.sort((a, b) => collate(a, b));
    assert.deepEqual(shuffled, ordered);
  });

  it('orders strings by code point, as UTF-8 bytes do: astral characters after U+FFFD', () => {
    assert.ok(compareCodePoints('\u{1F600}', '\uFFFD') > 0);
    const [astral, replacement] = ['\u{1F600}', '\uFFFD'];
    assert.ok(astral < replacement, 'JavaScript\'s own < orders UTF-16 units the other way');
    assert.ok(compareCodePoints('a', 'b') < 0);
    assert.ok(compareCodePoints('ab', 'a') > 0);
    assert.equal(compareCodePoints('é', 'é'), 0);
  });

  it('stops comparing nested values past 32 levels instead of exhausting the stack', () => {
    let deepA: unknown = 1;
    let deepB: unknown = 2;
    for (let i = 0; i < 100_000; i++) {
      deepA = [deepA];
      deepB = [deepB];
    }
    assert.equal(collate(deepA, deepB), 0);
  });
});

describe('query equality', () => {
  it('a string equals a number or boolean with the same text, as Asya compares them', () => {
    assert.ok(filterEquals(30, '30'));
    assert.ok(filterEquals('30', 30));
    assert.ok(filterEquals(true, 'true'));
    assert.ok(!filterEquals(30, '30.0'));
  });

  it('values of one kind compare as themselves; a missing field equals nothing', () => {
    assert.ok(filterEquals(null, null));
    assert.ok(filterEquals({ a: [1, 'x'] }, { a: [1, 'x'] }));
    assert.ok(!filterEquals({ a: 1 }, { a: 1, b: 2 }));
    assert.ok(!filterEquals(1, true));
    assert.ok(!filterEquals(undefined, null));
  });

  it('dotted paths go through objects only, and never into the prototype', () => {
    assert.equal(fieldValue({ a: { b: 2 } }, ['a', 'b']), 2);
    assert.equal(fieldValue({ a: [{ b: 2 }] }, ['a', 'b']), undefined);
    assert.equal(fieldValue({}, ['constructor']), undefined);
    assert.equal(fieldValue(JSON.parse('{"__proto__": {"x": 1}}'), ['__proto__', 'x']), 1);
  });
});

describe('query plan', () => {
  it('an empty body is every document, in listing order, up to the row cap', () => {
    const plan = parseQueryPlan('  ');
    assert.equal(plan.prefix, '');
    assert.equal(plan.limit, MAX_QUERY_ROWS);
    assert.equal(plan.offset, 0);
    assert.deepEqual(plan.sort, []);
    assert.ok(plan.matches('anything'));
  });

  it('null fields mean absent, as in Asya', () => {
    const plan = parseQueryPlan('{"prefix": null, "filter": null, "sort": null, "limit": null, "offset": null}');
    assert.equal(plan.limit, MAX_QUERY_ROWS);
  });

  it('a limit above the cap is the cap', () => {
    assert.equal(parseQueryPlan('{"limit": 50000}').limit, MAX_QUERY_ROWS);
    assert.equal(parseQueryPlan('{"limit": 7}').limit, 7);
  });

  it('sort fields keep their direction and path', () => {
    assert.deepEqual(parseQueryPlan('{"sort": ["-meta.owner", "name"]}').sort, [
      { field: 'meta.owner', path: ['meta', 'owner'], descending: true },
      { field: 'name', path: ['name'], descending: false },
    ]);
  });

  it('refuses empty path parts and filter values nested past 32 levels', () => {
    assert.throws(() => parseQueryPlan('{"sort": ["a..b"]}'), /empty part/);
    assert.throws(() => parseQueryPlan(`{"filter": {"a": ${'['.repeat(40)}${']'.repeat(40)}}}`), /deeper than 32/);
  });

  it('operators on one field all apply', () => {
    const plan = parseQueryPlan('{"filter": {"n": {"$gt": 1, "$lt": 5, "$ne": 3}}}');
    assert.deepEqual([0, 1, 2, 3, 4, 5, '4'].filter((n) => plan.matches({ n })), [2, 4]);
  });
});

describe('query plan bounds', () => {
  it('drops repeated sort fields (the first mention orders) and refuses more than MAX_SORT_FIELDS distinct ones', () => {
    const plan = parseQueryPlan(JSON.stringify({ sort: [...Array.from({ length: 20_000 }, () => 'n'), '-m', 'm', 'n'] }));
    assert.deepEqual(plan.sort.map((key) => [key.field, key.descending]), [['n', false], ['m', true]]);
    const many = JSON.stringify({ sort: Array.from({ length: MAX_SORT_FIELDS + 1 }, (_, i) => `f${i}`) });
    assert.throws(() => parseQueryPlan(many), new RegExp(`at most ${MAX_SORT_FIELDS}`));
  });

  it('$in and $nin answer as filterEquals against every option would, for every kind of value', () => {
    const values: unknown[] = ['30', 30, 30.5, '30.5', 0, -0, '0', true, 'true', false, 'false', null, 'null', '', [1], { a: 1 }, '1e3', 1000, undefined];
    const isMember = membership(values.filter((v) => v !== undefined));
    for (const subset of [values.filter((v) => v !== undefined), ['30'], [30], [true], ['x', null], [[1], { a: 1 }]]) {
      const check = membership(subset);
      for (const field of values) {
        assert.equal(check(field), subset.some((option) => filterEquals(field, option)), `${JSON.stringify(field)} in ${JSON.stringify(subset)}`);
      }
    }
    assert.equal(isMember(undefined), false);
  });

  it('charges a kept row for its bytes and for the values it sorts on as JavaScript holds them', () => {
    assert.equal(keptRowCost(100, []), 164);
    const scalar = keptRowCost(100, [5, 'abc']);
    const tree = keptRowCost(100, [Array.from({ length: 1000 }, () => ({ a: 1 }))]);
    assert.ok(scalar < 300, `scalars cost little: ${scalar}`);
    assert.ok(tree > 50 * 1000, `a tree of 1,000 small objects costs tens of bytes each: ${tree}`);
  });
});
