/**
 * Key rules and prefix isolation: malformed keys and queries get 400 with nothing sent to
 * GCS, and nothing outside STATE_PREFIX is ever read, written, listed or deleted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startConnector, type Connector, withConnector } from '../helpers/connector.ts';
import { getDirect, objectNames, putDirect, startEmulator, type Emulator } from '../helpers/emulator.ts';
import { metricValue, parseRawAnswer, rawExchange, request } from '../helpers/socket-http.ts';

let emulator: Emulator;
let connector: Connector;
let sock: string;
const bucket = 'keys-prefix';
const PREFIX = 'models/v2';

before(async () => {
  emulator = await startEmulator();
  await emulator.createBucket(bucket);
  for (const name of ['models/v2/a', 'models/v2/sub/b', 'models/v2-old/secret', 'models/v2old', 'other/x', 'models/v2x/y']) {
    await putDirect(emulator, bucket, name, `original ${name}`);
  }
  connector = await startConnector({ emulatorOrigin: emulator.origin, bucket, variant: 'cas', env: { STATE_PREFIX: PREFIX } });
  sock = connector.socketPath;
});
after(async () => {
  await connector.stop();
  await emulator.stop();
});

/** GCS requests the connector has sent so far. */
async function gcsRequests(): Promise<number> {
  return metricValue(sock, 'asya_state_gcs_requests_total');
}

/** Sends a request line as written (no client-side path normalisation) and answers status and body. */
async function raw(method: string, path: string, headers = ''): Promise<{ status: number; body: string }> {
  const answer = parseRawAnswer(await rawExchange(sock, `${method} ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n${headers}\r\n`));
  return { status: answer?.status ?? 0, body: answer?.body ?? '' };
}

describe('key validation', () => {
  const badKeys: Record<string, string> = {
    'leading slash': '/keys//abs',
    'empty segment': '/keys/a//b',
    'dot segment': '/keys/a/./b',
    'dot-dot segment': '/keys/a/../b',
    'encoded dot-dot': '/keys/%2E%2E/x',
    'encoded CR': '/keys/a%0Db',
    'encoded LF': '/keys/a%0Ab',
    'encoded NUL': '/keys/a%00b',
    'bad percent-encoding': '/keys/a%zzb',
    'truncated percent-encoding': '/keys/a%4',
    'invalid UTF-8': '/keys/a%C3%28',
    'name over 1024 bytes': `/keys/${'x'.repeat(1024 - PREFIX.length)}`,
  };

  for (const method of ['GET', 'PUT', 'DELETE']) {
    for (const [what, path] of Object.entries(badKeys)) {
      it(`${method} with ${what} answers 400 bad_request and sends nothing to GCS`, async () => {
        const before = await gcsRequests();
        const res = await raw(method, path);
        assert.equal(res.status, 400);
        const body = JSON.parse(res.body) as { error: string; message: string };
        assert.equal(body.error, 'bad_request');
        assert.ok(body.message.length > 10, 'the message says what to fix');
        assert.equal(await gcsRequests(), before);
      });
    }
  }

  it('an empty key on GET, PUT or DELETE is 400', async () => {
    for (const method of ['PUT', 'DELETE']) assert.equal((await raw(method, '/keys/')).status, 400, method);
    assert.equal((await raw('GET', '/meta/')).status, 400);
  });

  it('a trailing slash names a directory: GET and PUT of it are 400', async () => {
    assert.equal((await raw('GET', '/keys/models/')).status, 400);
    assert.equal((await request(sock, '/keys/dir/', { method: 'PUT', body: 'x' })).status, 400);
  });

  it('an object name of exactly 1024 bytes is accepted', async () => {
    const key = 'k'.repeat(1024 - PREFIX.length - 1);
    assert.equal((await request(sock, `/keys/${key}`, { method: 'PUT', body: 'max' })).status, 204);
    assert.equal((await request(sock, `/keys/${key}`)).text(), 'max');
  });

  it('names GCS forbids (.well-known/acme-challenge/ at the start) are 400 without a prefix', async () => {
    await withConnector(emulator, { bucket, variant: 'lww' }, async (bare) => {
      const res = await request(bare.socketPath, '/keys/.well-known/acme-challenge/x', { method: 'PUT', body: 'x' });
      assert.equal(res.status, 400);
    });
  });

  it('keys with spaces, unicode, "+", "%" and "?" round-trip when percent-encoded per segment', async () => {
    for (const key of ['with space/file name.txt', 'ünïcødé/日本.json', 'a+b', '100%/x', 'what?/#hash']) {
      const path = `/keys/${key.split('/').map(encodeURIComponent).join('/')}`;
      assert.equal((await request(sock, path, { method: 'PUT', body: key })).status, 204, key);
      assert.equal((await request(sock, path)).text(), key, key);
      assert.equal((await getDirect(emulator, bucket, `${PREFIX}/${key}`))?.toString(), key, key);
    }
  });

  it('bad query parameters and headers are 400 with a message', async () => {
    const cases: [string, string, Record<string, string>][] = [
      ['GET', '/keys/?prefix=a&prefix=b', {}],
      ['GET', '/keys/?limit=0', {}],
      ['GET', '/keys/?limit=1001', {}],
      ['GET', '/keys/?limit=ten', {}],
      ['GET', '/keys/?page_token=abc', {}],
      ['GET', '/keys/?colour=red', {}],
      ['GET', '/keys/a?x=1', {}],
      ['PUT', '/keys/a', { 'if-match': 'not-a-generation' }],
      // The protocol's If-Match is the ETag, quoted; a bare number is refused, not guessed at.
      ['PUT', '/keys/a', { 'if-match': '123' }],
      ['DELETE', '/keys/a', { 'if-match': '123' }],
      ['PUT', '/keys/a', { 'if-none-match': '"123"' }],
      ['PUT', '/keys/a', { 'if-match': '"1"', 'if-none-match': '*' }],
      ['DELETE', '/keys/a', { 'if-none-match': '*' }],
    ];
    for (const [method, path, headers] of cases) {
      const before = await gcsRequests();
      const res = await request(sock, path, { method, headers, ...(method === 'PUT' ? { body: 'x' } : {}) });
      assert.equal(res.status, 400, `${method} ${path} ${JSON.stringify(headers)}`);
      assert.equal(res.json().error, 'bad_request');
      assert.equal(await gcsRequests(), before, `${method} ${path} sent nothing to GCS`);
    }
  });
});

describe('malformed requests the HTTP parser refuses', () => {
  it('a request head over 16 KiB is answered 431 with a JSON body, and the connector keeps serving', async () => {
    const answer = await rawExchange(sock, `GET /keys/a HTTP/1.1\r\nHost: x\r\nX-Big: ${'y'.repeat(20_000)}\r\n\r\n`);
    assert.match(answer, /^HTTP\/1\.1 431 /);
    assert.match(answer, /"error":"bad_request"/);
    assert.equal((await request(sock, '/healthz')).status, 200);
  });

  it('a broken request line is answered 400 with a JSON body', async () => {
    const answer = await rawExchange(sock, 'GARBAGE\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /"error":"bad_request"/);
  });
});

describe('prefix isolation (STATE_PREFIX=models/v2)', () => {
  it('objects map to STATE_PREFIX + "/" + key', async () => {
    await request(sock, '/keys/new/thing', { method: 'PUT', body: 'n' });
    assert.equal((await getDirect(emulator, bucket, 'models/v2/new/thing'))?.toString(), 'n');
  });

  it('the root listing shows only what is under the prefix, as mount-relative keys', async () => {
    const listing = (await request(sock, '/keys/?prefix=&delimiter=/')).json<{ keys: string[]; prefixes: string[] }>();
    assert.ok(listing.keys.includes('a'));
    assert.ok(listing.prefixes.includes('sub/'));
    for (const entry of [...listing.keys, ...listing.prefixes]) {
      assert.ok(!entry.includes('v2-old') && !entry.includes('secret') && !entry.startsWith('other'), entry);
    }
    const recursive = (await request(sock, '/keys/?prefix=&delimiter=')).json<{ keys: string[] }>();
    assert.ok(!recursive.keys.some((key) => key.includes('secret') || key.includes('v2old') || key === 'y'));
  });

  it('an object under models/v2-old/ is never listed, read or deleted, whatever the key says', async () => {
    for (const path of ['/keys/../v2-old/secret', '/keys/%2E%2E/v2-old/secret', '/keys/-old/secret', '/keys//models/v2-old/secret']) {
      for (const method of ['GET', 'DELETE', 'HEAD']) {
        const res = await raw(method, path);
        assert.ok(res.status === 400 || res.status === 404, `${method} ${path} → ${res.status}`);
      }
    }
    for (const query of ['prefix=..', 'prefix=../', 'prefix=-old/', 'prefix=%2E%2E/v2-old/']) {
      const res = await raw('GET', `/keys/?${query}&delimiter=`);
      if (res.status === 200) {
        const listing = JSON.parse(res.body) as { keys: string[] };
        assert.deepEqual(listing.keys, [], query);
      } else assert.equal(res.status, 400, query);
    }
    assert.equal((await getDirect(emulator, bucket, 'models/v2-old/secret'))?.toString(), 'original models/v2-old/secret');
  });

  it('random keys and list prefixes never reach outside the prefix (property check, 1000 cases)', async () => {
    const alphabet = ['a', 'b', '/', '.', '..', '%2F', '%2E', '-', 'old', 'v2', '%', ' ', '~', '%00', 'x'];
    let seed = 12345;
    const next = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    const outside = (await objectNames(emulator, bucket)).filter((name) => !name.startsWith(`${PREFIX}/`));
    const snapshot = new Map<string, string | undefined>();
    for (const name of outside) snapshot.set(name, (await getDirect(emulator, bucket, name))?.toString());

    for (let i = 0; i < 1000; i++) {
      const length = 1 + (next() % 6);
      const key = Array.from({ length }, () => alphabet[next() % alphabet.length]).join('');
      const method = ['GET', 'PUT', 'DELETE', 'HEAD', 'LIST'][next() % 5] ?? 'GET';
      const res = method === 'LIST'
        ? await raw('GET', `/keys/?prefix=${key.replaceAll(' ', '%20')}&delimiter=`)
        : await raw(method, `/keys/${key.replaceAll(' ', '%20')}`);
      assert.ok([200, 204, 400, 404, 409].includes(res.status), `${method} ${key} → ${res.status}`);
      if (method === 'LIST' && res.status === 200) {
        for (const listed of (JSON.parse(res.body) as { keys: string[] }).keys) {
          assert.ok((await getDirect(emulator, bucket, `${PREFIX}/${listed}`)) !== undefined, `listed ${listed} lies under the prefix`);
        }
      }
    }
    const after = await objectNames(emulator, bucket);
    for (const name of after) {
      if (!name.startsWith(`${PREFIX}/`)) assert.ok(snapshot.has(name), `no object created outside the prefix: ${name}`);
    }
    for (const [name, content] of snapshot) assert.equal((await getDirect(emulator, bucket, name))?.toString(), content, `unchanged: ${name}`);
  });
});

describe('one GCS request per operation', () => {
  it('GET, PUT (new and over an existing key), HEAD of a file, DELETE and a list page each send exactly one request to GCS', async () => {
    const steps: [string, () => Promise<unknown>][] = [
      ['PUT', () => request(sock, '/keys/one/k', { method: 'PUT', body: 'x' })],
      ['PUT over an existing key', () => request(sock, '/keys/one/k', { method: 'PUT', body: 'y' })],
      ['GET', () => request(sock, '/keys/one/k')],
      ['GET of a missing key', () => request(sock, '/keys/one/missing')],
      ['HEAD of a file', () => request(sock, '/keys/one/k', { method: 'HEAD' })],
      ['list page', () => request(sock, '/keys/?prefix=one/&limit=10')],
      ['DELETE', () => request(sock, '/keys/one/k', { method: 'DELETE' })],
    ];
    for (const [name, step] of steps) {
      const before = await gcsRequests();
      await step();
      assert.equal(await gcsRequests() - before, 1, name);
    }
  });
});
