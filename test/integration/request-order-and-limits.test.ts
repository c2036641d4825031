/**
 * Requests of one connection served in order (pipelining), the doors' caps (connections,
 * body speed), refusals of encodings and content types that would store something
 * broken, and names planted in the bucket that are not valid keys.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { StateClient } from '../../src/client/state-client.ts';
import { startConnector, type Connector } from '../helpers/connector.ts';
import { getDirect, putDirect, startEmulator, type Emulator } from '../helpers/emulator.ts';
import { metricValue, parseRawAnswer, rawExchange, request, slowPut } from '../helpers/socket-http.ts';

const MIB = 1024 * 1024;
let emulator: Emulator;
const bucket = 'order-and-limits';

before(async () => {
  emulator = await startEmulator();
  await emulator.createBucket(bucket);
});
after(async () => {
  await emulator.stop();
});

/** Every HTTP status line in a raw stream of answers, in order. */
function statuses(raw: string): number[] {
  return [...raw.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => Number(match[1]));
}

function put(key: string, body: Buffer | string): string {
  const bytes = Buffer.from(body);
  return `PUT /keys/${key} HTTP/1.1\r\nHost: x\r\nContent-Length: ${bytes.length}\r\n\r\n${bytes.toString('latin1')}`;
}

for (const variant of ['lww', 'cas'] as const) {
  describe(`pipelined requests (${variant})`, () => {
    let connector: Connector;
    before(async () => { connector = await startConnector({ emulatorOrigin: emulator.origin, bucket, variant }); });
    after(async () => { await connector.stop(); });

    it('PUT then DELETE sent in one write end in that order: 204, 204, and no object', async () => {
      const key = `pipe/${variant}/pd`;
      const raw = await rawExchange(connector.socketPath, Buffer.from(`${put(key, Buffer.alloc(MIB, 120))}DELETE /keys/${key} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 'latin1'), { waitMs: 10_000 });
      assert.deepEqual(statuses(raw), [204, 204]);
      assert.equal(await getDirect(emulator, bucket, key), undefined);
    });

    it('PUT then PUT sent in one write leave the second body', async () => {
      const key = `pipe/${variant}/pp`;
      const raw = await rawExchange(connector.socketPath, Buffer.from(`${put(key, Buffer.alloc(MIB, 120))}${put(key, 'B').replace('Host: x\r\n', 'Host: x\r\nConnection: close\r\n')}`, 'latin1'), { waitMs: 10_000 });
      assert.deepEqual(statuses(raw), [204, 204]);
      assert.equal((await getDirect(emulator, bucket, key))?.toString(), 'B');
    });

    it('a malformed request after a valid one is answered after it, never over its answer', async () => {
      const key = `pipe/${variant}/then-garbage`;
      await putDirect(emulator, bucket, key, 'intact');
      const raw = await rawExchange(connector.socketPath, `GET /keys/${key} HTTP/1.1\r\nHost: x\r\n\r\nNOT HTTP AT ALL\r\n\r\n`, { waitMs: 5_000 });
      const first = parseRawAnswer(raw);
      assert.equal(first?.status, 200);
      assert.ok(first.body.startsWith('intact'), raw);
      assert.deepEqual(statuses(raw), [200, 400]);
    });
  });
}

describe('the doors: connections, body speed, encodings, content types', () => {
  let connector: Connector;
  before(async () => {
    connector = await startConnector({
      emulatorOrigin: emulator.origin,
      bucket,
      variant: 'lww',
      settings: { maxConnections: 3, bodyMinBytesPerSecond: 4096, bodyWindowMs: 500 },
    });
  });
  after(async () => { await connector.stop(); });

  it('a connection past the cap gets 503 unavailable saying so; those admitted keep working', async () => {
    const held: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const socket = connect(connector.socketPath);
      await new Promise((resolve) => socket.once('connect', resolve));
      held.push(socket);
    }
    await sleep(50);
    try {
      const refused = parseRawAnswer(await rawExchange(connector.socketPath, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
      assert.equal(refused?.status, 503);
      const body = JSON.parse(refused.body) as { error: string; message: string };
      assert.equal(body.error, 'unavailable');
      assert.match(body.message, /at most 3 connections at once on the socket; retry/);
      const admitted = held[0];
      assert.ok(admitted !== undefined);
      const answer = await new Promise<string>((resolve) => {
        let text = '';
        admitted.on('data', (chunk: Buffer) => {
          text += chunk.toString('latin1');
          if (text.includes('"ready"')) resolve(text);
        });
        admitted.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      });
      assert.match(answer, /^HTTP\/1\.1 200 /);
    } finally {
      for (const socket of held) socket.destroy();
    }
    await sleep(100);
    assert.equal((await request(connector.socketPath, '/healthz')).status, 200);
    assert.equal(await metricValue(connector.socketPath, 'asya_state_connections_refused_total', { listener: 'socket', reason: 'cap' }), 1);
  });

  it('a body slower than the minimum rate is refused with 400 and nothing is stored', async () => {
    const outcome = await slowPut(connector.socketPath, 'slow/body', Buffer.alloc(64, 1), 64, 100);
    assert.ok(outcome === 400 || typeof outcome === 'string', `answered ${String(outcome)}`);
    assert.equal(await getDirect(emulator, bucket, 'slow/body'), undefined);
    assert.equal((await request(connector.socketPath, '/healthz')).status, 200);
  });

  it('Transfer-Encoding other than plain chunked is refused, never stored encoded', async () => {
    const raw = await rawExchange(connector.socketPath, 'PUT /keys/te/gzip HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
    const answer = parseRawAnswer(raw);
    assert.equal(answer?.status, 400);
    assert.match((JSON.parse(answer.body) as { message: string }).message, /Transfer-Encoding must be "chunked"/);
    assert.equal(await getDirect(emulator, bucket, 'te/gzip'), undefined);
  });

  it('a Content-Type or content_type with a control character is refused with 400 and the object stays readable', async () => {
    await putDirect(emulator, bucket, 'ct/ok', 'readable');
    const raw = await rawExchange(connector.socketPath, 'PUT /keys/ct/bad HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain; x="a\x7fb"\r\nContent-Length: 1\r\nConnection: close\r\n\r\nz');
    assert.equal(parseRawAnswer(raw)?.status, 400);
    assert.equal(await getDirect(emulator, bucket, 'ct/bad'), undefined);
    const meta = await request(connector.socketPath, '/meta/ct/ok?attr=content_type', { method: 'PUT', body: JSON.stringify({ value: 'text/plain; x="a\u0001"' }) });
    assert.equal(meta.status, 400);
    assert.match(meta.json<{ message: string }>().message, /visible ASCII/);
    const read = await request(connector.socketPath, '/keys/ct/ok');
    assert.equal(read.status, 200);
    assert.equal(read.text(), 'readable');
  });
});

describe('names planted in the bucket that are not valid keys', () => {
  let connector: Connector;
  const PREFIX = 'planted';
  before(async () => {
    connector = await startConnector({ emulatorOrigin: emulator.origin, bucket, variant: 'cas', env: { STATE_PREFIX: PREFIX } });
    for (const name of ['dir/ok.txt', 'dir/../../../../tmp/secret.txt', 'dir/./dot', 'dir//empty', 'dir/ctl\u0001name', 'dir/sub/../up']) {
      await putDirect(emulator, bucket, `${PREFIX}/${name}`, 'x');
    }
  });
  after(async () => { await connector.stop(); });

  it('never leave a listing, paged or whole, recursive or not; each is counted and the first logged at warn', async () => {
    const whole = (await request(connector.socketPath, '/keys/?prefix=dir/')).json<{ keys: string[]; prefixes: string[] }>();
    // dir/sub/ is a real directory name; only what lies under it is not.
    assert.deepEqual(whole, { keys: ['dir/ok.txt'], prefixes: ['dir/sub/'] });
    const recursive = (await request(connector.socketPath, '/keys/?prefix=&delimiter=')).json<{ keys: string[] }>();
    assert.deepEqual(recursive.keys, ['dir/ok.txt']);
    const paged = (await request(connector.socketPath, '/keys/?prefix=dir/&delimiter=&limit=2')).json<{ keys: string[]; next_page_token?: string }>();
    assert.ok(paged.keys.every((key) => key === 'dir/ok.txt'), JSON.stringify(paged));
    assert.ok(await metricValue(connector.socketPath, 'asya_state_listing_names_dropped_total') >= 10);
    const warnings = connector.output.filter((line) => line.includes('not a valid key'));
    assert.equal(warnings.length, 1, 'logged once');
    assert.match(warnings[0] ?? '', /"severity":"WARNING"/);
  });

  it('the client library never turns one into a path outside its mount', async () => {
    const client = new StateClient({ socketPath: connector.socketPath, mountPath: '/state/planted' });
    try {
      const entries = await client.readdir('/state/planted/dir', { recursive: true });
      assert.deepEqual(entries, ['ok.txt']);
      const top = await client.readdir('/state/planted');
      assert.deepEqual(top, ['dir']);
    } finally {
      client.close();
    }
  });
});
