/**
 * Hostile input: at least 10,000 malformed or hostile requests, interleaved with valid
 * ones, each on its own connection. Zero crashes; every answer to a bad request a
 * documented 4xx with a JSON body (none on HEAD); and afterwards the bucket holds exactly
 * what the requests answered 2xx wrote.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startConnector, type Connector } from '../helpers/connector.ts';
import { getDirect, objectNames, startEmulator, type Emulator } from '../helpers/emulator.ts';
import { recordFigures } from '../helpers/figures.ts';
import { openFds } from '../helpers/proc.ts';
import { parseRawAnswer, rawExchange, request } from '../helpers/socket-http.ts';

const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 10_000);
const PREFIX = 'fuzz';
const MAX_BODY = 64 * 1024;
const DOCUMENTED_4XX = new Set([400, 403, 404, 409, 413, 431]);

let emulator: Emulator;
let connector: Connector;
const bucket = 'hostile-input';

before(async () => {
  emulator = await startEmulator();
  await emulator.createBucket(bucket);
  connector = await startConnector({
    emulatorOrigin: emulator.origin,
    bucket,
    variant: 'cas',
    env: { STATE_PREFIX: PREFIX, CONNECTOR_MAX_BODY: String(MAX_BODY) },
  });
});
after(async () => {
  await connector.stop();
  await emulator.stop();
});

/** A small deterministic PRNG, so a failure can be replayed with the same FUZZ_SEED. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Exchange {
  readonly category: string;
  readonly bytes: Buffer;
  readonly method: string;
  /** The key a successful answer would have changed, decoded. */
  readonly key: string | undefined;
  readonly body: Buffer | undefined;
  /** True when the request is cut so that no answer can be expected. */
  readonly mayGoUnanswered: boolean;
}

const NASTY_SEGMENTS = [
  '..', '.', '', '%2E%2E', '%2e', '%00', '%0D', '%0A', '%0d%0a', '%', '%4', '%zz', '%C3%28', '%E0%A4%A', '%F0%28%8C%BC',
  '%FF', '%C0%AF', 'a%2F..%2Fb', '~', '%20', '+', '*', '[x]', '%25', 'ok', 'x'.repeat(1100), 'é', '\u0001',
  '.well-known', 'acme-challenge', '%2F', 'CON', '?', '#frag',
];
const METHODS = ['GET', 'PUT', 'HEAD', 'DELETE', 'POST', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'get', 'PUTX'];

function build(random: () => number): Exchange {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const segments = Array.from({ length: 1 + Math.floor(random() * 4) }, () => pick(NASTY_SEGMENTS));
  const rawKey = `h/${segments.join('/')}`;
  const category = pick(['random', 'random', 'random', 'meta', 'headers', 'lying-length', 'chunk-garbage', 'too-large', 'query', 'conditional']);
  const body = Buffer.from(`body-${Math.floor(random() * 1e9)}`);
  const request = (method: string, target: string, headers: string[], payload?: Buffer): Buffer => {
    const head = `${method} ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`;
    return Buffer.concat([Buffer.from(head, 'latin1'), payload ?? Buffer.alloc(0)]);
  };
  let decoded: string | undefined;
  try {
    decoded = decodeURIComponent(rawKey);
  } catch {
    decoded = undefined;
  }

  switch (category) {
    case 'meta': {
      const attr = pick(['content_type', 'colour', 'generation', 'url', '', '%00', 'content_type&attr=url']);
      const json = pick(['{"value":"text/plain"}', '{"value":1}', 'not json', '{"value":"\\u0000/x"}', '[', '{}', '{"value":"a/b; c=d"}']);
      const method = pick(['GET', 'PUT', 'DELETE']);
      return { category, method, key: undefined, body: undefined, mayGoUnanswered: false, bytes: request(method, `/meta/${rawKey}?attr=${attr}`, [`Content-Length: ${Buffer.byteLength(json)}`], Buffer.from(json)) };
    }
    case 'headers': {
      const header = pick([`X-Huge: ${'h'.repeat(20_000)}`, 'Content-Length: -1', 'Content-Length: 1e3', 'Content-Length: 5, 6', 'Transfer-Encoding: gzip',
        'Content-Length: 3\r\nTransfer-Encoding: chunked', 'Bad Header: x', 'If-Match: W/"1"', 'If-None-Match: "5"', 'If-Match: *']);
      return { category, method: 'PUT', key: undefined, body: undefined, mayGoUnanswered: false, bytes: request('PUT', `/keys/${rawKey}`, [header], Buffer.from('abc')) };
    }
    case 'lying-length':
      // Announces more than it sends, then closes its side: the body never completes.
      return { category, method: 'PUT', key: decoded, body: undefined, mayGoUnanswered: true, bytes: request('PUT', `/keys/${rawKey}`, [`Content-Length: ${body.length + 1 + Math.floor(random() * 5000)}`], body) };
    case 'chunk-garbage': {
      // [chunked body, complete?, what it stores when valid]
      const [garbage, complete, stores] = pick([
        ['zz\r\nabc\r\n0\r\n\r\n', true, undefined],
        ['3\r\nabcdef\r\n0\r\n\r\n', true, undefined],
        ['-1\r\n\r\n', true, undefined],
        ['3\r\nab', false, undefined],
        ['ffffffffffffffff\r\nx', false, undefined],
        // Valid: a chunk extension and a trailer, which HTTP/1.1 allows.
        ['3;ext=1\r\nabc\r\n0\r\nTrailer-Field: x\r\n\r\n', true, 'abc'],
      ] as const);
      return {
        category, method: 'PUT', key: decoded, body: stores === undefined ? undefined : Buffer.from(stores), mayGoUnanswered: !complete,
        bytes: request('PUT', `/keys/${rawKey}`, ['Transfer-Encoding: chunked'], Buffer.from(garbage, 'latin1')),
      };
    }
    case 'too-large': {
      const big = Buffer.alloc(MAX_BODY + 1 + Math.floor(random() * 1000), 120);
      const chunked = random() < 0.5;
      const payload = chunked ? Buffer.concat([Buffer.from(`${big.length.toString(16)}\r\n`), big, Buffer.from('\r\n0\r\n\r\n')]) : big;
      return { category, method: 'PUT', key: decoded, body: undefined, mayGoUnanswered: false, bytes: request('PUT', `/keys/${rawKey}`, [chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${big.length}`], payload) };
    }
    case 'query': {
      const query = pick(['prefix=%zz', 'prefix=..%2F', 'limit=0', 'limit=99999', 'limit=-5', 'page_token=', 'delimiter=%00', 'prefix=a&prefix=b', 'x=1', '%=%', 'prefix=%0D%0A']);
      return { category, method: 'GET', key: undefined, body: undefined, mayGoUnanswered: false, bytes: request('GET', `/keys/?${query}`, []) };
    }
    case 'conditional': {
      const header = pick(['If-Match: "123"', 'If-Match: 123', 'If-Match: "abc"', 'If-None-Match: *', 'If-Match: "1", "2"']);
      const method = pick(['PUT', 'DELETE']);
      return { category, method, key: decoded, body: method === 'PUT' ? body : undefined, mayGoUnanswered: false, bytes: request(method, `/keys/${rawKey}`, [header, `Content-Length: ${method === 'PUT' ? body.length : 0}`], method === 'PUT' ? body : undefined) };
    }
    default: {
      const method = pick(METHODS);
      const withBody = method.toUpperCase() === 'PUT' || random() < 0.2;
      return { category, method, key: decoded, body: withBody ? body : undefined, mayGoUnanswered: false, bytes: request(method, `/${pick(['keys', 'keys', 'meta', 'kéys', 'KEYS', ''])}/${rawKey}`, withBody ? [`Content-Length: ${body.length}`] : [], withBody ? body : undefined) };
    }
  }
}

describe(`hostile input (${REQUESTS} requests)`, () => {
  it('never crashes, answers every bad request with a documented 4xx and JSON, and changes only what 2xx answers say', async () => {
    const seed = Number(process.env.FUZZ_SEED ?? 20261125);
    const random = prng(seed);
    const model = new Map<string, Buffer>();
    const statuses = new Map<number, number>();
    const fdsBefore = openFds(connector.process.pid ?? 0);
    let unanswered = 0;
    let valid = 0;

    for (let i = 0; i < REQUESTS; i++) {
      // One in five is a valid write, read or delete of known keys: the model's ground truth.
      if (random() < 0.2) {
        const key = `valid/k${Math.floor(random() * 25)}`;
        const roll = random();
        if (roll < 0.5) {
          const payload = Buffer.from(`v-${i}`);
          const res = await request(connector.socketPath, `/keys/${key}`, { method: 'PUT', body: payload });
          assert.equal(res.status, 204, `valid PUT ${key}`);
          model.set(key, payload);
        } else if (roll < 0.8) {
          const res = await request(connector.socketPath, `/keys/${key}`);
          const expected = model.get(key);
          assert.equal(res.status, expected === undefined ? 404 : 200, `valid GET ${key}`);
          if (expected !== undefined) assert.deepEqual(res.body, expected);
        } else {
          const res = await request(connector.socketPath, `/keys/${key}`, { method: 'DELETE' });
          assert.equal(res.status, model.has(key) ? 204 : 404, `valid DELETE ${key}`);
          model.delete(key);
        }
        valid += 1;
        continue;
      }

      const exchange = build(random);
      const raw = await rawExchange(connector.socketPath, exchange.bytes, { endAfterWrite: exchange.mayGoUnanswered, waitMs: 5_000 });
      const answer = parseRawAnswer(raw);
      if (answer === undefined) {
        assert.ok(exchange.mayGoUnanswered, `no answer to a complete ${exchange.category} request: ${exchange.bytes.subarray(0, 120).toString('latin1')}`);
        unanswered += 1;
        continue;
      }
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      const summary = `${exchange.category} → ${answer.status}: ${exchange.bytes.subarray(0, 160).toString('latin1')}`;
      assert.ok(answer.status < 500, `never a 5xx: ${summary}\n${answer.body}`);
      if (answer.status >= 400) {
        assert.ok(DOCUMENTED_4XX.has(answer.status), `documented 4xx: ${summary}`);
        if (exchange.method !== 'HEAD') {
          assert.match(answer.headers, /content-type: application\/json/, summary);
          const parsed = JSON.parse(answer.body) as { error?: unknown; message?: unknown };
          assert.equal(typeof parsed.error, 'string', summary);
          assert.equal(typeof parsed.message, 'string', summary);
        }
      } else if (exchange.key !== undefined && answer.status === 204) {
        // A request that was valid after all: remember what it did.
        if (exchange.method === 'PUT' && exchange.body !== undefined) model.set(exchange.key, exchange.body);
        if (exchange.method === 'DELETE') model.delete(exchange.key);
      }
    }

    assert.equal(connector.process.exitCode, null, 'the connector is still running');
    assert.equal((await request(connector.socketPath, '/healthz')).status, 200);

    const stored = (await objectNames(emulator, bucket)).map((name) => name.slice(PREFIX.length + 1));
    assert.deepEqual(stored, [...model.keys()].sort(), 'the bucket holds exactly the keys 2xx answers wrote');
    for (const [key, content] of model) {
      assert.deepEqual(await getDirect(emulator, bucket, `${PREFIX}/${key}`), content, key);
    }
    const fdsAfter = openFds(connector.process.pid ?? 0);
    recordFigures('hostile input', {
      requests: REQUESTS, valid, hostile: REQUESTS - valid, unanswered_cut_requests: unanswered,
      statuses: Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])), objects: model.size,
      crashes: 0, fds_before: fdsBefore, fds_after: fdsAfter, peak_rss_mib: connector.peakRssMiB(), seed,
    });
    assert.ok(fdsAfter <= fdsBefore + 2, `no leaked descriptors (${fdsBefore} → ${fdsAfter})`);
  });
});
