/**
 * `POST /query`, checked against the contract of Asya's connectors (docs/protocol.md):
 * the JSON documents under a prefix, filtered (equality with Asya's string meaning, and
 * Mango operators), sorted (numbers as numbers), paged, with the 400s, the caps, and
 * memory held within a query's share of the budget. Both variants, in-process over the in-memory
 * store (held to the GCS store's contract); the hostile rows of the fault suite run the
 * same routes against fake-gcs-server with the image's flags.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StateClient } from '../../src/client/index.ts';
import { MemoryObjectStore } from '../../src/store/memory/memory-store.ts';
import { countingCalls, putObject, startInProcess, type InProcessConnector } from '../helpers/in-process-connector.ts';
import { metricValue, request, type Answer } from '../helpers/socket-http.ts';

const PREFIX = 'app';

/** Documents under STATE_PREFIX `app`, by key. */
const DOCUMENTS: Readonly<Record<string, unknown>> = {
  'users/alice.json': { name: 'alice', age: 30, active: true, meta: { owner: 'ops' }, tags: ['a', 'b'] },
  'users/bob.json': { name: 'bob', age: 9, active: false, meta: { owner: 'dev' } },
  'users/carol.json': { name: 'carol', age: '30', meta: { owner: 'ops' } },
  'users/dave.json': { name: 'dave', age: 100, active: null },
  'users/deep/erin.json': { name: 'erin', age: 42, meta: { owner: 'ops' } },
  'other/x.json': { name: 'other' },
};

function query(sock: string, body: unknown): Promise<Answer> {
  return request(sock, '/query', { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
}

function names(answer: Answer): string[] {
  assert.equal(answer.status, 200, answer.text());
  return answer.json<{ rows: Array<{ name: string }> }>().rows.map((row) => row.name);
}

for (const variant of ['lww', 'cas'] as const) {
  describe(`POST /query (${variant})`, () => {
    const store = new MemoryObjectStore();
    const counting = countingCalls(store);
    let connector: InProcessConnector;
    let sock: string;

    before(async () => {
      for (const [key, document] of Object.entries(DOCUMENTS)) await putObject(store, `${PREFIX}/${key}`, JSON.stringify(document));
      await putObject(store, `${PREFIX}/users/notes.txt`, 'not json at all');
      await putObject(store, `${PREFIX}/users/latin1.json`, Buffer.from([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xe9, 0x22, 0x7d]));
      await putObject(store, `${PREFIX}/users/folder/`, '');
      await putObject(store, 'outside/users/zed.json', JSON.stringify({ name: 'zed' }));
      await putObject(store, `${PREFIX}-other/users/yan.json`, JSON.stringify({ name: 'yan' }));
      connector = await startInProcess({ variant, store: counting.store, env: { STATE_PREFIX: PREFIX } });
      sock = connector.socketPath;
    });
    after(async () => { await connector.stop(); });

    it('answers every JSON document under the mount, recursively, in key order, with total', async () => {
      const answer = await query(sock, {});
      assert.deepEqual(names(answer), ['other', 'alice', 'bob', 'carol', 'dave', 'erin']);
      assert.equal(answer.json<{ total: number }>().total, 6);
      assert.equal(answer.headers['content-type'], 'application/json');
    });

    it('an empty body means {}', async () => {
      assert.deepEqual(names(await query(sock, '')), names(await query(sock, {})));
    });

    it('rows are the documents themselves, nested fields and arrays included', async () => {
      const answer = await query(sock, { prefix: 'users/alice' });
      assert.deepEqual(answer.json(), { rows: [DOCUMENTS['users/alice.json']], total: 1 });
    });

    it('reads only under the prefix, skips files that are not UTF-8 JSON and folder placeholders, and says how many it skipped', async () => {
      const answer = await query(sock, { prefix: 'users/' });
      assert.deepEqual(names(answer), ['alice', 'bob', 'carol', 'dave', 'erin']);
      assert.equal(answer.headers['x-query-skipped'], '2', 'notes.txt and latin1.json');
      assert.equal(answer.headers['x-query-read'], '7');
      assert.equal(answer.headers['x-query-unread'], '0');
    });

    it('a prefix with no objects answers 200 {"rows": [], "total": 0}', async () => {
      const answer = await query(sock, { prefix: 'nothing-here/' });
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.json(), { rows: [], total: 0 });
    });

    it('never reads outside STATE_PREFIX', async () => {
      const all = names(await query(sock, { prefix: '' }));
      assert.ok(!all.includes('zed') && !all.includes('yan'), all.join());
      const escape = await query(sock, { prefix: '../outside/' });
      assert.equal(escape.status, 400);
    });

    it('filter: all pairs must match; dots reach nested fields', async () => {
      assert.deepEqual(names(await query(sock, { filter: { 'meta.owner': 'ops' } })), ['alice', 'carol', 'erin']);
      assert.deepEqual(names(await query(sock, { filter: { 'meta.owner': 'ops', age: 42 } })), ['erin']);
      assert.deepEqual(names(await query(sock, { filter: { 'meta.owner.deeper': 'ops' } })), []);
    });

    it('filter equality keeps Asya\'s meaning: a number and a string are equal when their texts are', async () => {
      assert.deepEqual(names(await query(sock, { filter: { age: '30' } })), ['alice', 'carol']);
      assert.deepEqual(names(await query(sock, { filter: { age: 30 } })), ['alice', 'carol']);
      assert.deepEqual(names(await query(sock, { filter: { active: 'true' } })), ['alice']);
    });

    it('filter equality of booleans, null, arrays and objects compares the JSON values', async () => {
      assert.deepEqual(names(await query(sock, { filter: { active: true } })), ['alice']);
      assert.deepEqual(names(await query(sock, { filter: { active: null } })), ['dave']);
      assert.deepEqual(names(await query(sock, { filter: { tags: ['a', 'b'] } })), ['alice']);
      assert.deepEqual(names(await query(sock, { filter: { meta: { owner: 'dev' } } })), ['bob']);
    });

    it('sort: numbers compare as numbers, "-" sorts descending, missing values last either way', async () => {
      const numbersOnly = { filter: { age: { $gte: 0 } } };
      assert.deepEqual(names(await query(sock, { ...numbersOnly, sort: ['age'] })), ['bob', 'alice', 'erin', 'dave']);
      assert.deepEqual(names(await query(sock, { ...numbersOnly, sort: ['-age'] })), ['dave', 'erin', 'alice', 'bob']);
      assert.deepEqual(names(await query(sock, { prefix: 'users/', sort: ['meta.owner', '-name'] })), ['bob', 'erin', 'carol', 'alice', 'dave']);
      assert.deepEqual(names(await query(sock, { prefix: 'users/', sort: ['-meta.owner', 'name'] })), ['alice', 'carol', 'erin', 'bob', 'dave']);
    });

    it('sort across kinds follows one order: numbers before strings', async () => {
      assert.deepEqual(names(await query(sock, { prefix: 'users/', sort: ['age', 'name'] })), ['bob', 'alice', 'erin', 'dave', 'carol']);
    });

    it('limit and offset page the sorted matches; total counts them all; limit 0 means the cap', async () => {
      const page = await query(sock, { prefix: 'users/', sort: ['name'], limit: 2, offset: 1 });
      assert.deepEqual(names(page), ['bob', 'carol']);
      assert.equal(page.json<{ total: number }>().total, 5);
      assert.deepEqual(names(await query(sock, { prefix: 'users/', sort: ['name'], limit: 0, offset: 3 })), ['dave', 'erin']);
      assert.deepEqual(names(await query(sock, { prefix: 'users/', sort: ['name'], offset: 99 })), []);
      assert.deepEqual(names(await query(sock, { prefix: 'users/', sort: ['name'], limit: 10_001 })), ['alice', 'bob', 'carol', 'dave', 'erin']);
    });

    it('operators: $eq $ne $gt $gte $lt $lte $in $nin $exists', async () => {
      const users = async (filter: unknown): Promise<string[]> => names(await query(sock, { prefix: 'users/', filter }));
      assert.deepEqual(await users({ age: { $eq: 30 } }), ['alice', 'carol']);
      assert.deepEqual(await users({ name: { $ne: 'bob' } }), ['alice', 'carol', 'dave', 'erin']);
      assert.deepEqual(await users({ age: { $gt: 30 } }), ['dave', 'erin'], 'numbers only: the string "30" is neither above nor below 30');
      assert.deepEqual(await users({ age: { $gte: 30, $lt: 100 } }), ['alice', 'erin']);
      assert.deepEqual(await users({ age: { $lte: 9 } }), ['bob']);
      assert.deepEqual(await users({ name: { $gt: 'carol' } }), ['dave', 'erin']);
      assert.deepEqual(await users({ name: { $in: ['alice', 'erin', 'zed'] } }), ['alice', 'erin']);
      assert.deepEqual(await users({ name: { $nin: ['alice', 'erin'] } }), ['bob', 'carol', 'dave']);
      assert.deepEqual(await users({ meta: { $exists: false } }), ['dave']);
      assert.deepEqual(await users({ active: { $exists: true } }), ['alice', 'bob', 'dave']);
      assert.deepEqual(await users({ active: { $ne: true } }), ['bob', 'dave'], '$ne needs the field to exist');
    });

    describe('refusals: 400 bad_request, a message that says what to fix, and no GCS request', () => {
      const bad: Record<string, { body: unknown; says: RegExp }> = {
        'a body that is not JSON': { body: '{"filter": ', says: /must be JSON/ },
        'a body that is not an object': { body: '[1]', says: /JSON object/ },
        'filter not an object': { body: { filter: ['a'] }, says: /"filter" must be an object/ },
        'filter a string': { body: { filter: 'age=3' }, says: /"filter" must be an object/ },
        'sort not an array': { body: { sort: 'name' }, says: /"sort" must be an array/ },
        'a sort entry not a string': { body: { sort: [1] }, says: /field names as strings/ },
        'a filter field outside the pattern': { body: { filter: { 'a-b': 1 } }, says: /not a field name/ },
        'a sort field outside the pattern': { body: { sort: ['-1st'] }, says: /not a field name/ },
        'a combinator': { body: { filter: { $or: [] } }, says: /\$and and \$or are not supported/ },
        'a negative limit': { body: { limit: -1 }, says: /"limit" must be a whole number/ },
        'a negative offset': { body: { offset: -5 }, says: /"offset" must be a whole number/ },
        'a fractional limit': { body: { limit: 1.5 }, says: /"limit" must be a whole number/ },
        'a limit as a string': { body: { limit: '5' }, says: /"limit" must be a whole number/ },
        'an unknown operator': { body: { filter: { name: { $regex: 'a.*' } } }, says: /unknown operator "\$regex"; known: \$eq/ },
        'operators mixed with plain keys': { body: { filter: { meta: { $exists: true, owner: 'ops' } } }, says: /mixes operators and plain keys/ },
        '$in without an array': { body: { filter: { name: { $in: 'alice' } } }, says: /\$in takes an array/ },
        '$exists without a boolean': { body: { filter: { name: { $exists: 1 } } }, says: /\$exists takes true or false/ },
        'an unknown field': { body: { where: {} }, says: /unknown query field "where"/ },
        'a prefix that is not a string': { body: { prefix: 3 }, says: /"prefix" must be a string/ },
      };
      for (const [what, { body, says }] of Object.entries(bad)) {
        it(what, async () => {
          const before = counting.calls();
          const answer = await query(sock, body);
          assert.equal(answer.status, 400, answer.text());
          const error = answer.json<{ error: string; message: string }>();
          assert.equal(error.error, 'bad_request');
          assert.match(error.message, says);
          assert.equal(counting.calls(), before, 'the store was not asked');
        });
      }

      it('a body over 1 MiB is 413 too_large', async () => {
        const answer = await query(sock, { filter: { name: { $in: Array.from({ length: 200_000 }, (_, i) => `name-${i}`) } } });
        assert.equal(answer.status, 413);
        assert.equal(answer.json<{ error: string }>().error, 'too_large');
      });

      it('GET /query is 404 not_found naming POST', async () => {
        const answer = await request(sock, '/query');
        assert.equal(answer.status, 404);
        assert.match(answer.json<{ message: string }>().message, /POST only/);
      });
    });

    it('counts queries, documents and bytes read in the metrics', async () => {
      const queries = await metricValue(sock, 'asya_state_requests_total', { op: 'query', status: '200' });
      const documents = await metricValue(sock, 'asya_state_query_documents_read_total');
      const bytes = await metricValue(sock, 'asya_state_query_read_bytes_total');
      await query(sock, { prefix: 'users/alice' });
      assert.equal(await metricValue(sock, 'asya_state_requests_total', { op: 'query', status: '200' }), queries + 1);
      assert.equal(await metricValue(sock, 'asya_state_query_documents_read_total'), documents + 1);
      assert.equal(await metricValue(sock, 'asya_state_query_read_bytes_total'), bytes + JSON.stringify(DOCUMENTS['users/alice.json']).length);
    });

    it('the client library: state.query() with a key prefix or a path under the mount, and what was left out', async () => {
      const client = new StateClient({ socketPath: sock, mountPath: '/state/app' });
      try {
        const byKey = await client.query<{ name: string }>({ prefix: 'users/', filter: { 'meta.owner': 'ops' }, sort: ['-name'], limit: 2 });
        assert.deepEqual(byKey.rows.map((row) => row.name), ['erin', 'carol']);
        assert.equal(byKey.total, 3);
        assert.equal(byKey.skipped, 2);
        assert.equal(byKey.unread, 0);
        const byPath = await client.query<{ name: string }>({ prefix: '/state/app/users/', filter: { 'meta.owner': 'ops' }, sort: ['-name'], limit: 2 });
        assert.deepEqual(byPath.rows, byKey.rows);
        await assert.rejects(client.query({ sort: ['1x'] }), (error: NodeJS.ErrnoException) => error.code === 'EINVAL' && /not a field name/.test(error.message));
      } finally {
        client.close();
      }
    });

    if (variant === 'cas') {
      it('a query is a read: a write without If-Match after another writer changed a queried document is a conflict', async () => {
        await query(sock, { prefix: 'users/bob' });
        await putObject(store, `${PREFIX}/users/bob.json`, JSON.stringify({ name: 'bob', age: 10 }));
        const write = await request(sock, '/keys/users/bob.json', { method: 'PUT', body: JSON.stringify({ name: 'bob', age: 11 }) });
        assert.equal(write.status, 409, write.text());
      });
    }
  });
}

describe('POST /query memory: the largest document read and the memory a query holds', () => {
  const store = new MemoryObjectStore();
  let connector: InProcessConnector;
  let sock: string;

  before(async () => {
    for (let i = 0; i < 100; i++) await putObject(store, `docs/${String(i).padStart(3, '0')}.json`, JSON.stringify({ i, pad: 'p'.repeat(1000) }));
    await putObject(store, 'docs/big.json', JSON.stringify({ i: -1, pad: 'p'.repeat(5000) }));
    connector = await startInProcess({ variant: 'lww', store, settings: { queryDocumentMaxBytes: 4 * 1024, queryMemoryBytes: 64 * 1024, queryReads: 4 } });
    sock = connector.socketPath;
  });
  after(async () => { await connector.stop(); });

  it('a file over the largest document read is skipped, not read, and counted', async () => {
    const answer = await query(sock, { prefix: 'docs/', filter: { i: { $lt: 3 } }, sort: ['i'] });
    assert.equal(answer.status, 200, answer.text());
    assert.deepEqual(answer.json<{ rows: Array<{ i: number }> }>().rows.map((row) => row.i), [0, 1, 2]);
    assert.equal(answer.headers['x-query-skipped'], '1');
    assert.equal(answer.headers['x-query-read'], '100');
  });

  it('sort + limit keeps only the rows it can answer: 100 KiB of documents pass through 64 KiB', async () => {
    const answer = await query(sock, { prefix: 'docs/', sort: ['-i'], limit: 3 });
    assert.equal(answer.status, 200, answer.text());
    assert.deepEqual(answer.json<{ rows: Array<{ i: number }> }>().rows.map((row) => row.i), [99, 98, 97]);
    assert.equal(answer.json<{ total: number }>().total, 100);
  });

  it('rows that cannot fit in the memory of a query are 413 too_large saying how to ask for fewer, and the connector serves on', async () => {
    const answer = await query(sock, { prefix: 'docs/' });
    assert.equal(answer.status, 413, answer.text());
    assert.match(answer.json<{ message: string }>().message, /bytes a query may hold.*limit and offset/);
    assert.equal(await metricValue(sock, 'asya_state_memory_budget_used_bytes', { use: 'query' }), 0);
    assert.equal((await query(sock, { prefix: 'docs/', limit: 10 })).status, 200);
  });
});

describe('POST /query caps and the read cache', () => {
  const store = new MemoryObjectStore();
  const counting = countingCalls(store);
  let cacheRoot: string;
  let connector: InProcessConnector;
  let sock: string;

  before(async () => {
    cacheRoot = await mkdtemp(join(tmpdir(), 'query-cache-'));
    for (let i = 0; i < 10_001; i++) await putObject(store, `many/${String(i).padStart(5, '0')}.json`, JSON.stringify({ i }));
    for (let i = 0; i < 1_200; i++) await putObject(store, `cap/${String(i).padStart(5, '0')}.json`, JSON.stringify({ i }));
    connector = await startInProcess({
      variant: 'lww', store: counting.store,
      settings: { cache: { dir: cacheRoot, minObjectBytes: 0, maxBytes: 64 * 1024 * 1024 } },
    });
    sock = connector.socketPath;
  });
  after(async () => {
    await connector.stop();
    await rm(cacheRoot, { recursive: true, force: true });
  });

  it('a prefix with more than 10,000 files is 400, asking for a narrower prefix', async () => {
    const answer = await query(sock, { prefix: 'many/' });
    assert.equal(answer.status, 400);
    assert.match(answer.json<{ message: string }>().message, /more than 10000 files.*narrower prefix/);
  });

  it('reads the first 1,000 files only, and says how many it left unread', async () => {
    const answer = await query(sock, { prefix: 'cap/', sort: ['-i'], limit: 1 });
    assert.equal(answer.status, 200, answer.text());
    assert.deepEqual(answer.json(), { rows: [{ i: 999 }], total: 1000 });
    assert.equal(answer.headers['x-query-read'], '1000');
    assert.equal(answer.headers['x-query-unread'], '200');
  });

  it('reads through the read cache: a second query downloads nothing', async () => {
    await query(sock, { prefix: 'cap/0000' });
    const downloaded = counting.downloads();
    const hits = await metricValue(sock, 'asya_state_cache_hits_total');
    const answer = await query(sock, { prefix: 'cap/0000' });
    assert.equal(answer.json<{ total: number }>().total, 10);
    assert.equal(await metricValue(sock, 'asya_state_cache_hits_total'), hits + 10);
    assert.equal(counting.downloads(), downloaded, 'no download: each copy was confirmed unchanged (readIfChanged) and served from the cache');
  });
});
