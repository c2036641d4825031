/**
 * Every row of the protocol's endpoint table, for both variants, in-process over the
 * in-memory store (held to the GCS store's contract, test/contract/). What only GCS can
 * show (its answers, its faults) is in test/integration/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { getObject, putObject, startInProcess, type InProcessConnector } from '../helpers/in-process-connector.ts';
import { metricValue, request } from '../helpers/socket-http.ts';

/** The bucket the in-memory store names its objects in. */
const bucket = 'memory';

for (const variant of ['lww', 'cas'] as const) {
  describe(`endpoints (${variant})`, () => {
    let connector: InProcessConnector;
    let sock: string;
    const objectGeneration = async (name: string): Promise<string> => (await connector.store.stat(name)).generation;

    before(async () => {
      connector = await startInProcess({ variant });
      sock = connector.socketPath;
    });
    after(async () => { await connector.stop(); });

    it('GET /healthz answers 200 {"status":"ready"}', async () => {
      const res = await request(sock, '/healthz');
      assert.equal(res.status, 200);
      assert.deepEqual(res.json(), { status: 'ready' });
    });

    it('GET /readyz answers 200 while the bucket answers', async () => {
      const res = await request(sock, '/readyz');
      assert.equal(res.status, 200);
      assert.deepEqual(res.json(), { status: 'ready' });
    });

    it('PUT stores the body and answers 204 with the new generation as ETag', async () => {
      const res = await request(sock, '/keys/put/one.json', { method: 'PUT', body: '{"n":1}', headers: { 'content-type': 'application/json' } });
      assert.equal(res.status, 204);
      assert.equal(res.body.length, 0);
      assert.equal(res.headers.etag, `"${await objectGeneration('put/one.json')}"`);
      assert.equal((await getObject(connector.store, 'put/one.json'))?.toString(), '{"n":1}');
    });

    it('PUT of an empty body stores an empty object', async () => {
      assert.equal((await request(sock, '/keys/put/empty', { method: 'PUT', body: '' })).status, 204);
      const res = await request(sock, '/keys/put/empty');
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-length'], '0');
    });

    it('GET answers the bytes with Content-Length, ETag, Content-Type and Last-Modified', async () => {
      const body = Buffer.from([0, 1, 2, 255, 254, 10, 13]);
      await request(sock, '/keys/get/bin', { method: 'PUT', body, headers: { 'content-type': 'application/x-test' } });
      const res = await request(sock, '/keys/get/bin');
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, body);
      assert.equal(res.headers['content-length'], String(body.length));
      assert.equal(res.headers.etag, `"${await objectGeneration('get/bin')}"`);
      assert.equal(res.headers['content-type'], 'application/x-test');
      assert.ok(!Number.isNaN(Date.parse(res.headers['last-modified'] ?? '')), 'Last-Modified is an HTTP date');
    });

    it('GET of a missing key answers 404 key_not_found as JSON', async () => {
      const res = await request(sock, '/keys/get/missing');
      assert.equal(res.status, 404);
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.json().error, 'key_not_found');
    });

    it('HEAD of a file answers 204 with its size, X-Is-File: true, ETag and Content-Type', async () => {
      await request(sock, '/keys/head/file.txt', { method: 'PUT', body: 'twelve bytes', headers: { 'content-type': 'text/plain' } });
      const res = await request(sock, '/keys/head/file.txt', { method: 'HEAD' });
      assert.equal(res.status, 204);
      assert.equal(res.headers['content-length'], '12');
      assert.equal(res.headers['x-is-file'], 'true');
      assert.equal(res.headers.etag, `"${await objectGeneration('head/file.txt')}"`);
      assert.equal(res.headers['content-type'], 'text/plain');
    });

    it('HEAD of a prefix with objects under it answers a directory', async () => {
      await request(sock, '/keys/head/dir/inner/x', { method: 'PUT', body: 'x' });
      for (const path of ['/keys/head/dir', '/keys/head/dir/', '/keys/head/dir/inner']) {
        const res = await request(sock, path, { method: 'HEAD' });
        assert.equal(res.status, 204, path);
        assert.equal(res.headers['x-is-file'], 'false', path);
        assert.equal(res.headers['content-length'], '0', path);
      }
    });

    it('HEAD /keys/ is the mount root: always a directory', async () => {
      const res = await request(sock, '/keys/', { method: 'HEAD' });
      assert.equal(res.status, 204);
      assert.equal(res.headers['x-is-file'], 'false');
    });

    it('HEAD of nothing answers 404 with no body, with or without a trailing slash', async () => {
      for (const path of ['/keys/head/nothing', '/keys/head/nothing/']) {
        const res = await request(sock, path, { method: 'HEAD' });
        assert.equal(res.status, 404, path);
        assert.equal(res.body.length, 0, path);
      }
    });

    it('HEAD describes the object where an object and a prefix share a name', async () => {
      await request(sock, '/keys/head/both', { method: 'PUT', body: 'abc' });
      await request(sock, '/keys/head/both/child', { method: 'PUT', body: 'x' });
      const res = await request(sock, '/keys/head/both', { method: 'HEAD' });
      assert.equal(res.headers['x-is-file'], 'true');
      assert.equal(res.headers['content-length'], '3');
    });

    it('DELETE answers 204 and removes the object; a second DELETE answers 404 key_not_found', async () => {
      await request(sock, '/keys/del/x', { method: 'PUT', body: 'x' });
      assert.equal((await request(sock, '/keys/del/x', { method: 'DELETE' })).status, 204);
      assert.equal(await getObject(connector.store, 'del/x'), undefined);
      const again = await request(sock, '/keys/del/x', { method: 'DELETE' });
      assert.equal(again.status, 404);
      assert.equal(again.json().error, 'key_not_found');
    });

    describe('listing', () => {
      before(async () => {
        for (const key of ['ls/a', 'ls/b', 'ls/sub/c', 'ls/sub/deeper/d', 'ls/other/e', 'lsx']) {
          await request(sock, `/keys/${key}`, { method: 'PUT', body: key });
        }
      });

      it('prefix with the default delimiter "/" gives keys and prefixes as full mount-relative keys', async () => {
        const res = await request(sock, '/keys/?prefix=ls/');
        assert.equal(res.status, 200);
        assert.deepEqual(res.json(), { keys: ['ls/a', 'ls/b'], prefixes: ['ls/other/', 'ls/sub/'] });
      });

      it('an explicit delimiter=/ gives the same', async () => {
        assert.deepEqual((await request(sock, '/keys/?prefix=ls/&delimiter=/')).json(), { keys: ['ls/a', 'ls/b'], prefixes: ['ls/other/', 'ls/sub/'] });
      });

      it('delimiter= (present, empty) lists recursively', async () => {
        const listing = (await request(sock, '/keys/?prefix=ls/&delimiter=')).json<{ keys: string[]; prefixes: string[] }>();
        assert.deepEqual(listing, { keys: ['ls/a', 'ls/b', 'ls/other/e', 'ls/sub/c', 'ls/sub/deeper/d'], prefixes: [] });
      });

      it('a prefix may end inside a name', async () => {
        assert.deepEqual((await request(sock, '/keys/?prefix=ls&delimiter=/')).json(), { keys: ['lsx'], prefixes: ['ls/'] });
      });

      it('limit and page_token page through the listing, next_page_token until the end', async () => {
        const seen: string[] = [];
        let token: string | undefined;
        let pages = 0;
        do {
          const query = `prefix=ls/&delimiter=&limit=2${token === undefined ? '' : `&page_token=${encodeURIComponent(token)}`}`;
          const page = (await request(sock, `/keys/?${query}`)).json<{ keys: string[]; next_page_token?: string }>();
          assert.ok(page.keys.length <= 2);
          seen.push(...page.keys);
          token = page.next_page_token;
          pages += 1;
        } while (token !== undefined);
        assert.equal(pages, 3);
        assert.deepEqual(seen, ['ls/a', 'ls/b', 'ls/other/e', 'ls/sub/c', 'ls/sub/deeper/d']);
      });

      it('without limit the whole listing is returned, across GCS pages', async () => {
        const names = Array.from({ length: 1005 }, (_, i) => `many/k${String(i).padStart(4, '0')}`);
        for (let i = 0; i < names.length; i += 50) {
          await Promise.all(names.slice(i, i + 50).map((name) => putObject(connector.store, name, 'x')));
        }
        const listing = (await request(sock, '/keys/?prefix=many/')).json<{ keys: string[]; next_page_token?: string }>();
        assert.equal(listing.keys.length, 1005);
        assert.deepEqual(listing.keys, names);
        assert.equal(listing.next_page_token, undefined);
      });

      it('the root is listed with prefix= (the runtime\'s os.listdir of the mount)', async () => {
        const listing = (await request(sock, '/keys/?prefix=&delimiter=/')).json<{ keys: string[]; prefixes: string[] }>();
        assert.ok(listing.keys.includes('lsx'));
        assert.ok(listing.prefixes.includes('ls/'));
      });
    });

    describe('attributes (/meta)', () => {
      before(async () => {
        await request(sock, '/keys/meta/obj', { method: 'PUT', body: 'meta', headers: { 'content-type': 'text/plain' } });
      });

      it('GET /meta/{key} lists the attribute names', async () => {
        const res = await request(sock, '/meta/meta/obj');
        assert.equal(res.status, 200);
        assert.deepEqual(res.json(), { attrs: ['url', 'signed_url', 'generation', 'metageneration', 'content_type', 'storage_class'] });
      });

      it('each readable attribute answers {"attr","value"} with a string value', async () => {
        const generation = await objectGeneration('meta/obj');
        const expected: Record<string, string> = {
          url: `gs://${bucket}/meta/obj`,
          generation,
          metageneration: '1',
          content_type: 'text/plain',
          storage_class: 'STANDARD',
        };
        for (const [attr, value] of Object.entries(expected)) {
          const res = await request(sock, `/meta/meta/obj?attr=${attr}`);
          assert.equal(res.status, 200, attr);
          assert.deepEqual(res.json(), { attr, value }, attr);
        }
      });

      it('PUT content_type changes it and keeps the generation', async () => {
        const before = await objectGeneration('meta/obj');
        const res = await request(sock, '/meta/meta/obj?attr=content_type', { method: 'PUT', body: '{"value":"application/json"}' });
        assert.equal(res.status, 204);
        assert.equal((await request(sock, '/meta/meta/obj?attr=content_type')).json().value, 'application/json');
        assert.equal(await objectGeneration('meta/obj'), before);
      });

      it('an unknown attribute is 400 unsupported_attribute', async () => {
        const res = await request(sock, '/meta/meta/obj?attr=colour');
        assert.equal(res.status, 400);
        assert.equal(res.json().error, 'unsupported_attribute');
        assert.equal((await request(sock, '/meta/meta/obj?attr=colour', { method: 'PUT', body: '{"value":"x"}' })).json().error, 'unsupported_attribute');
      });

      it('PUT of a read-only attribute is 403 permission_denied', async () => {
        const res = await request(sock, '/meta/meta/obj?attr=generation', { method: 'PUT', body: '{"value":"1"}' });
        assert.equal(res.status, 403);
        assert.equal(res.json().error, 'permission_denied');
      });

      it('PUT without attr, or with a body that is not {"value": string}, is 400 bad_request', async () => {
        assert.equal((await request(sock, '/meta/meta/obj', { method: 'PUT', body: '{"value":"text/plain"}' })).json().error, 'bad_request');
        for (const body of ['not json', '{"value":1}', '[]', 'null', '{}']) {
          const res = await request(sock, '/meta/meta/obj?attr=content_type', { method: 'PUT', body });
          assert.equal(res.status, 400, body);
          assert.equal(res.json().error, 'bad_request', body);
        }
      });

      it('a missing key is 404', async () => {
        assert.equal((await request(sock, '/meta/meta/none')).status, 404);
        assert.equal((await request(sock, '/meta/meta/none?attr=url')).status, 404);
        assert.equal((await request(sock, '/meta/meta/none?attr=content_type', { method: 'PUT', body: '{"value":"text/plain"}' })).status, 404);
      });
    });

    describe('preconditions (both variants)', () => {
      it('If-None-Match: * creates an absent key and answers 409 conflict when it exists', async () => {
        const first = await request(sock, '/keys/pre/excl', { method: 'PUT', body: 'one', headers: { 'if-none-match': '*' } });
        assert.equal(first.status, 204);
        const second = await request(sock, '/keys/pre/excl', { method: 'PUT', body: 'two', headers: { 'if-none-match': '*' } });
        assert.equal(second.status, 409);
        assert.equal(second.json().error, 'conflict');
        assert.equal(second.json().reason, 'exists');
        assert.equal((await getObject(connector.store, 'pre/excl'))?.toString(), 'one');
      });

      it('If-Match with the current generation writes; with another answers 409 and changes nothing', async () => {
        const put = await request(sock, '/keys/pre/match', { method: 'PUT', body: 'v1' });
        const etag = put.headers.etag ?? '';
        const ok = await request(sock, '/keys/pre/match', { method: 'PUT', body: 'v2', headers: { 'if-match': etag } });
        assert.equal(ok.status, 204);
        const stale = await request(sock, '/keys/pre/match', { method: 'PUT', body: 'v3', headers: { 'if-match': etag } });
        assert.equal(stale.status, 409);
        assert.equal(stale.json().reason, 'generation_mismatch');
        assert.equal((await getObject(connector.store, 'pre/match'))?.toString(), 'v2');
      });

      it('DELETE with If-Match at the current generation deletes', async () => {
        const put = await request(sock, '/keys/pre/del', { method: 'PUT', body: 'v1' });
        const ok = await request(sock, '/keys/pre/del', { method: 'DELETE', headers: { 'if-match': put.headers.etag ?? '' } });
        assert.equal(ok.status, 204);
        assert.equal(await getObject(connector.store, 'pre/del'), undefined);
      });

      it('DELETE with If-Match at another generation answers 409 and deletes nothing', async () => {
        await request(sock, '/keys/pre/del2', { method: 'PUT', body: 'v1' });
        const stale = await request(sock, '/keys/pre/del2', { method: 'DELETE', headers: { 'if-match': '"1"' } });
        assert.equal(stale.status, 409);
        assert.notEqual(await getObject(connector.store, 'pre/del2'), undefined);
      });
    });

    it('GET /metrics answers Prometheus text that counts the requests made', async () => {
      const before = await metricValue(sock, 'asya_state_requests_total', { op: 'healthz' });
      await request(sock, '/healthz');
      const res = await request(sock, '/metrics');
      assert.equal(res.status, 200);
      assert.match(String(res.headers['content-type']), /^text\/plain/);
      assert.match(res.text(), /# TYPE asya_state_requests_total counter/);
      assert.equal(await metricValue(sock, 'asya_state_requests_total', { op: 'healthz' }), before + 1);
    });

    it('an unknown route or method is 404 not_found as JSON', async () => {
      for (const [method, path] of [['GET', '/nope'], ['POST', '/keys/x'], ['DELETE', '/meta/x'], ['PUT', '/healthz']] as const) {
        const res = await request(sock, path, { method });
        assert.equal(res.status, 404, `${method} ${path}`);
        assert.equal(res.json().error, 'not_found', `${method} ${path}`);
      }
    });
  });
}

describe('body size limit', () => {
  let connector: InProcessConnector;
  before(async () => {
    connector = await startInProcess({ variant: 'lww', env: { CONNECTOR_MAX_BODY: '1Ki' } });
  });
  after(async () => { await connector.stop(); });

  it('a body over CONNECTOR_MAX_BODY is 413 too_large and is not stored, by Content-Length or chunked', async () => {
    const big = Buffer.alloc(2048, 1);
    for (const chunked of [false, true]) {
      const res = await request(connector.socketPath, `/keys/big-${chunked}`, { method: 'PUT', body: big, chunked });
      assert.equal(res.status, 413, `chunked=${chunked}`);
      assert.equal(res.json().error, 'too_large');
      assert.equal(await getObject(connector.store, `big-${chunked}`), undefined);
    }
    const ok = await request(connector.socketPath, '/keys/small', { method: 'PUT', body: Buffer.alloc(1024, 1) });
    assert.equal(ok.status, 204);
  });
});
