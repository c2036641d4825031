/**
 * The routes through the protocol server, in process over the in-memory store: refusals
 * that leave the store untouched, listings and their pages, directories, attributes and
 * queries.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryObjectStore } from '../../src/store/memory/memory-store.ts';
import type { ObjectStore } from '../../src/store/object-store.ts';
import { startInProcess, type InProcessConnector } from '../helpers/in-process-connector.ts';
import { request } from '../helpers/socket-http.ts';
import { wholeBody } from '../contract/object-store-contract.ts';

/** The in-memory store, counting the calls the connector makes. */
function countingStore(): { store: ObjectStore; calls: () => number } {
  const inner = new MemoryObjectStore('memory');
  let calls = 0;
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (property !== 'objectUrl') calls++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, calls: () => calls };
}

describe('routes in process', () => {
  let c: InProcessConnector;
  let calls: () => number;

  before(async () => {
    const counted = countingStore();
    calls = counted.calls;
    const seeded: ReadonlyArray<readonly [string, string]> = [['app/docs/a.json', '{"n":1}'], ['app/docs/b.json', '{"n":2}'], ['app/docs/sub/c.json', '{"n":3}'], ['app/top', 'x'], ['outside', 'secret']];
    for (const [name, body] of seeded) {
      await counted.store.write(name, wholeBody(Buffer.from(body)), { contentType: 'application/json' });
    }
    c = await startInProcess({ variant: 'cas', store: counted.store, env: { STATE_PREFIX: 'app' } });
  });
  after(async () => { await c.stop(); });

  const refused: ReadonlyArray<readonly [string, string]> = [['a dot-dot segment', '/keys/a/../b'], ['an empty segment', '/keys/a//b'], ['an encoded NUL', '/keys/a%00b'], ['a directory key', '/keys/docs/']];
  for (const [what, path] of refused) {
    it(`PUT with ${what} is 400 and never reaches the store`, async () => {
      const before = calls();
      const answer = await request(c.socketPath, path, { method: 'PUT', body: 'x' });
      assert.equal(answer.status, 400);
      assert.equal(answer.json<{ error: string }>().error, 'bad_request');
      assert.equal(calls(), before);
    });
  }

  it('a listing gives keys and prefixes under STATE_PREFIX only', async () => {
    const root = await request(c.socketPath, '/keys/?prefix=');
    assert.deepEqual(root.json(), { keys: ['top'], prefixes: ['docs/'] });
    const docs = await request(c.socketPath, '/keys/?prefix=docs/');
    assert.deepEqual(docs.json(), { keys: ['docs/a.json', 'docs/b.json'], prefixes: ['docs/sub/'] });
  });

  it('a paged listing walks every key once with limit and page_token', async () => {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const answer = await request(c.socketPath, `/keys/?prefix=docs/&delimiter=&limit=2${token === undefined ? '' : `&page_token=${encodeURIComponent(token)}`}`);
      const page = answer.json<{ keys: string[]; next_page_token?: string }>();
      keys.push(...page.keys);
      token = page.next_page_token;
    } while (token !== undefined);
    assert.deepEqual(keys, ['docs/a.json', 'docs/b.json', 'docs/sub/c.json']);
  });

  it('HEAD tells files from directories', async () => {
    const file = await request(c.socketPath, '/keys/docs/a.json', { method: 'HEAD' });
    assert.equal(file.headers['x-is-file'], 'true');
    assert.equal(file.headers['content-length'], '7');
    const dir = await request(c.socketPath, '/keys/docs', { method: 'HEAD' });
    assert.equal(dir.headers['x-is-file'], 'false');
    assert.equal((await request(c.socketPath, '/keys/nothing', { method: 'HEAD' })).status, 404);
  });

  it('a content type another writer set outside visible ASCII is served as application/octet-stream, and kept as the attribute', async () => {
    const stored = 'text/plain; name="\u00dcn\u00efc\u00f6d\u00e9 \u6587"';
    await c.store.write('app/odd.txt', wholeBody(Buffer.from('odd')), { contentType: stored });
    for (const method of ['HEAD', 'GET']) {
      const answer = await request(c.socketPath, '/keys/odd.txt', { method });
      assert.equal(answer.status, method === 'HEAD' ? 204 : 200, method);
      assert.equal(answer.headers['content-type'], 'application/octet-stream', method);
    }
    assert.equal((await request(c.socketPath, '/meta/odd.txt?attr=content_type')).json<{ value: string }>().value, stored);
  });

  it('attributes: url, content_type written and read, a read-only one refused, signed_url refused by a store that cannot sign', async () => {
    assert.equal((await request(c.socketPath, '/meta/top?attr=url')).json<{ value: string }>().value, 'gs://memory/app/top');
    const set = await request(c.socketPath, '/meta/top?attr=content_type', { method: 'PUT', body: JSON.stringify({ value: 'text/csv' }) });
    assert.equal(set.status, 204);
    assert.equal((await request(c.socketPath, '/meta/top?attr=content_type')).json<{ value: string }>().value, 'text/csv');
    assert.equal((await request(c.socketPath, '/meta/top?attr=generation', { method: 'PUT', body: JSON.stringify({ value: '1' }) })).status, 403);
    assert.equal((await request(c.socketPath, '/meta/top?attr=signed_url')).status, 403);
  });

  it('a query reads the documents under its prefix', async () => {
    const answer = await request(c.socketPath, '/query', { method: 'POST', body: JSON.stringify({ prefix: 'docs/', filter: { n: { $gte: 2 } }, sort: ['-n'] }) });
    assert.deepEqual(answer.json(), { rows: [{ n: 3 }, { n: 2 }], total: 2 });
  });

  it('an unknown route is 404 naming what is served', async () => {
    const answer = await request(c.socketPath, '/nothing');
    assert.equal(answer.status, 404);
    assert.match(answer.json<{ message: string }>().message, /\/keys\/, \/meta\/, \/query/);
  });
});
