/**
 * Compare-and-set as the protocol's Variants section says, against the real connector
 * and fake-gcs-server; and the LWW contrast.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startConnector, withConnector, type Connector } from '../helpers/connector.ts';
import { generationDirect, getDirect, putDirect, startEmulator, type Emulator } from '../helpers/emulator.ts';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { metricValue, request } from '../helpers/socket-http.ts';

let emulator: Emulator;
before(async () => { emulator = await startEmulator(); });
after(async () => { await emulator.stop(); });

describe('cas variant', () => {
  const bucket = 'cas-semantics';
  let connector: Connector;
  let sock: string;
  before(async () => {
    await emulator.createBucket(bucket);
    connector = await startConnector({ emulatorOrigin: emulator.origin, bucket, variant: 'cas' });
    sock = connector.socketPath;
  });
  after(async () => { await connector.stop(); });

  it('a write after an external change since the read answers 409 and leaves the external version', async () => {
    await putDirect(emulator, bucket, 'ext/k', 'v1');
    assert.equal((await request(sock, '/keys/ext/k')).text(), 'v1');
    await putDirect(emulator, bucket, 'ext/k', 'external');
    const res = await request(sock, '/keys/ext/k', { method: 'PUT', body: 'mine' });
    assert.equal(res.status, 409);
    assert.equal(res.json().error, 'conflict');
    assert.equal(res.json().reason, 'generation_mismatch');
    assert.equal((await getDirect(emulator, bucket, 'ext/k'))?.toString(), 'external');
  });

  it('read–modify–write by two clients: the second gets 409, then succeeds after a fresh read', async () => {
    // Two handlers in one pod share the connector; they are told apart by their reads.
    // A separate connector per client makes each one's memory its own, as two pods.
    await withConnector(emulator, { bucket, variant: 'cas' }, async (other) => {
      await request(sock, '/keys/rmw/counter', { method: 'PUT', body: '0' });
      const a = Number((await request(sock, '/keys/rmw/counter')).text());
      const b = Number((await request(other.socketPath, '/keys/rmw/counter')).text());
      assert.equal((await request(sock, '/keys/rmw/counter', { method: 'PUT', body: String(a + 1) })).status, 204);
      const lost = await request(other.socketPath, '/keys/rmw/counter', { method: 'PUT', body: String(b + 1) });
      assert.equal(lost.status, 409);
      const fresh = Number((await request(other.socketPath, '/keys/rmw/counter')).text());
      assert.equal((await request(other.socketPath, '/keys/rmw/counter', { method: 'PUT', body: String(fresh + 1) })).status, 204);
      assert.equal((await getDirect(emulator, bucket, 'rmw/counter'))?.toString(), '2');
    });
  });

  it('two clients that both saw 404 race to create: exactly one wins', async () => {
    await withConnector(emulator, { bucket, variant: 'cas' }, async (other) => {
      assert.equal((await request(sock, '/keys/race/new')).status, 404);
      assert.equal((await request(other.socketPath, '/keys/race/new')).status, 404);
      const answers = await Promise.all([
        request(sock, '/keys/race/new', { method: 'PUT', body: 'from-a' }),
        request(other.socketPath, '/keys/race/new', { method: 'PUT', body: 'from-b' }),
      ]);
      const statuses = answers.map((res) => res.status).sort();
      assert.deepEqual(statuses, [204, 409]);
      const winner = answers[0].status === 204 ? 'from-a' : 'from-b';
      assert.equal((await getDirect(emulator, bucket, 'race/new'))?.toString(), winner);
      const loser = answers.find((res) => res.status === 409);
      assert.equal(loser?.json().reason, 'generation_mismatch', 'an implicit absent-condition losing is a CAS conflict, not an exclusive create');
    });
  });

  it('a blind write of a never-observed key succeeds unconditionally, even over an existing object', async () => {
    await putDirect(emulator, bucket, 'blind/k', 'existing');
    const res = await request(sock, '/keys/blind/k', { method: 'PUT', body: 'blind' });
    assert.equal(res.status, 204);
    assert.equal((await getDirect(emulator, bucket, 'blind/k'))?.toString(), 'blind');
  });

  it('exclusive create (If-None-Match: *) answers 409 reason "exists" when the key exists', async () => {
    await putDirect(emulator, bucket, 'excl/k', 'there');
    const res = await request(sock, '/keys/excl/k', { method: 'PUT', body: 'x', headers: { 'if-none-match': '*' } });
    assert.equal(res.status, 409);
    assert.equal(res.json().reason, 'exists');
  });

  it('a conflict forgets the key: the next write without a read is unconditional', async () => {
    await putDirect(emulator, bucket, 'forget/k', 'v1');
    await request(sock, '/keys/forget/k');
    await putDirect(emulator, bucket, 'forget/k', 'v2');
    assert.equal((await request(sock, '/keys/forget/k', { method: 'PUT', body: 'mine' })).status, 409);
    assert.equal((await request(sock, '/keys/forget/k', { method: 'PUT', body: 'mine' })).status, 204);
  });

  it('a successful write remembers the new generation: consecutive writes by one handler succeed', async () => {
    await request(sock, '/keys/seq/k');
    for (let i = 0; i < 3; i++) assert.equal((await request(sock, '/keys/seq/k', { method: 'PUT', body: String(i) })).status, 204);
    await putDirect(emulator, bucket, 'seq/k', 'external');
    assert.equal((await request(sock, '/keys/seq/k', { method: 'PUT', body: 'late' })).status, 409);
  });

  it('a GET that found nothing makes the next write conditional on absence', async () => {
    assert.equal((await request(sock, '/keys/absent/k')).status, 404);
    await putDirect(emulator, bucket, 'absent/k', 'someone else');
    assert.equal((await request(sock, '/keys/absent/k', { method: 'PUT', body: 'mine' })).status, 409);
    assert.equal((await getDirect(emulator, bucket, 'absent/k'))?.toString(), 'someone else');
  });

  it('DELETE forgets the key', async () => {
    await request(sock, '/keys/del/k', { method: 'PUT', body: 'v1' });
    await request(sock, '/keys/del/k');
    assert.equal((await request(sock, '/keys/del/k', { method: 'DELETE' })).status, 204);
    await putDirect(emulator, bucket, 'del/k', 'recreated elsewhere');
    assert.equal((await request(sock, '/keys/del/k', { method: 'PUT', body: 'mine' })).status, 204);
  });

  it('GET /meta/{key}?attr=generation answers the remembered generation', async () => {
    await putDirect(emulator, bucket, 'gen/k', 'v1');
    const etag = (await request(sock, '/keys/gen/k')).headers.etag;
    const external = await putDirect(emulator, bucket, 'gen/k', 'v2');
    const remembered = (await request(sock, '/meta/gen/k?attr=generation')).json().value;
    assert.equal(`"${String(remembered)}"`, etag);
    assert.notEqual(remembered, external);
  });

  it('counts conflicts in /metrics by reason', async () => {
    const before = await metricValue(sock, 'asya_state_conflicts_total', { reason: 'generation_mismatch' });
    await putDirect(emulator, bucket, 'metric/k', 'v1');
    await request(sock, '/keys/metric/k');
    await putDirect(emulator, bucket, 'metric/k', 'v2');
    await request(sock, '/keys/metric/k', { method: 'PUT', body: 'x' });
    assert.equal(await metricValue(sock, 'asya_state_conflicts_total', { reason: 'generation_mismatch' }), before + 1);
  });
});

describe('cas variant: bounded memory', () => {
  const bucket = 'cas-bounded';
  let connector: Connector;
  before(async () => {
    await emulator.createBucket(bucket);
    connector = await startConnector({ emulatorOrigin: emulator.origin, bucket, variant: 'cas', env: { CONNECTOR_CAS_MEMORY_KEYS: '2' } });
  });
  after(async () => { await connector.stop(); });

  it('a key pushed out of memory between read and write gets 409 (never an unconditional overwrite), then works after a fresh read', async () => {
    const sock = connector.socketPath;
    await putDirect(emulator, bucket, 'k1', 'v1');
    await request(sock, '/keys/k1');
    for (const key of ['k2', 'k3', 'k4']) await request(sock, `/keys/${key}`);
    const res = await request(sock, '/keys/k1', { method: 'PUT', body: 'mine' });
    assert.equal(res.status, 409);
    assert.match(String(res.json().message), /CONNECTOR_CAS_MEMORY_KEYS/);
    await request(sock, '/keys/k1');
    assert.equal((await request(sock, '/keys/k1', { method: 'PUT', body: 'mine' })).status, 204);
  });
});

describe('If-Match survives a connector restart (both variants)', () => {
  const bucket = 'cas-restart';
  before(async () => { await emulator.createBucket(bucket); });

  for (const variant of ['lww', 'cas'] as const) {
    it(`${variant}: an ETag read before a restart still guards the write after it`, async () => {
      const first = await startConnector({ emulatorOrigin: emulator.origin, bucket, variant });
      await request(first.socketPath, `/keys/${variant}`, { method: 'PUT', body: 'v1' });
      const etag = (await request(first.socketPath, `/keys/${variant}`)).headers.etag ?? '';
      await first.stop();
      await withConnector(emulator, { bucket, variant }, async (second) => {
        assert.equal((await request(second.socketPath, `/keys/${variant}`, { method: 'PUT', body: 'v2', headers: { 'if-match': etag } })).status, 204);
        assert.equal((await request(second.socketPath, `/keys/${variant}`, { method: 'PUT', body: 'v3', headers: { 'if-match': etag } })).status, 409);
      });
    });
  }
});

describe('lww variant', () => {
  const bucket = 'lww-semantics';
  let connector: Connector;
  before(async () => {
    await emulator.createBucket(bucket);
    connector = await startConnector({ emulatorOrigin: emulator.origin, bucket, variant: 'lww' });
  });
  after(async () => { await connector.stop(); });

  it('a write after an external change since the read wins (no implicit condition)', async () => {
    await putDirect(emulator, bucket, 'k', 'v1');
    await request(connector.socketPath, '/keys/k');
    await putDirect(emulator, bucket, 'k', 'external');
    assert.equal((await request(connector.socketPath, '/keys/k', { method: 'PUT', body: 'mine' })).status, 204);
    assert.equal((await getDirect(emulator, bucket, 'k'))?.toString(), 'mine');
  });
});

describe('answers lost after GCS acted', () => {
  const bucket = 'lost-answers';
  let proxy: FaultProxy;
  before(async () => {
    await emulator.createBucket(bucket);
    proxy = await startFaultProxy(emulator.origin);
  });
  after(async () => { await proxy.close(); });

  const isUpload = (req: { method?: string | undefined; url?: string | undefined }): boolean => req.method === 'POST' && (req.url ?? '').startsWith('/upload/');

  it('cas: a conditional write whose answer was lost is retried, gets 412, is recognised as ours and succeeds', async () => {
    await withConnector(proxy, { bucket, variant: 'cas' }, async (connector) => {
      const sock = connector.socketPath;
      await putDirect(emulator, bucket, 'cas/k', 'v1');
      await request(sock, '/keys/cas/k');
      proxy.inject(isUpload, { kind: 'lose-answer' });
      const res = await request(sock, '/keys/cas/k', { method: 'PUT', body: 'v2' });
      assert.equal(res.status, 204);
      assert.equal((await getDirect(emulator, bucket, 'cas/k'))?.toString(), 'v2');
      assert.equal(res.headers.etag, `"${await generationDirect(emulator, bucket, 'cas/k')}"`);
      assert.equal(await metricValue(sock, 'asya_state_gcs_retries_total', { op: 'write' }), 1);
    });
  });

  it('cas: a retried write that meets another writer\'s version still answers 409', async () => {
    await withConnector(proxy, { bucket, variant: 'cas' }, async (connector) => {
      const sock = connector.socketPath;
      await putDirect(emulator, bucket, 'cas/other', 'v1');
      await request(sock, '/keys/cas/other');
      await putDirect(emulator, bucket, 'cas/other', 'theirs');
      proxy.inject(isUpload, { kind: 'status', status: 503 });
      const res = await request(sock, '/keys/cas/other', { method: 'PUT', body: 'mine' });
      assert.equal(res.status, 409);
      assert.equal((await getDirect(emulator, bucket, 'cas/other'))?.toString(), 'theirs');
    });
  });

  it('lww: a write whose answer was lost is retried and succeeds', async () => {
    await withConnector(proxy, { bucket, variant: 'lww' }, async (connector) => {
      proxy.inject(isUpload, { kind: 'lose-answer' });
      const res = await request(connector.socketPath, '/keys/lww/k', { method: 'PUT', body: 'v1' });
      assert.equal(res.status, 204);
      assert.equal((await getDirect(emulator, bucket, 'lww/k'))?.toString(), 'v1');
    });
  });

  it('a DELETE whose answer was lost is retried and answers 204, not 404', async () => {
    await withConnector(proxy, { bucket, variant: 'lww' }, async (connector) => {
      await putDirect(emulator, bucket, 'del/k', 'x');
      proxy.inject((req) => req.method === 'DELETE', { kind: 'lose-answer' });
      const res = await request(connector.socketPath, '/keys/del/k', { method: 'DELETE' });
      assert.equal(res.status, 204);
      assert.equal(await getDirect(emulator, bucket, 'del/k'), undefined);
    });
  });
});
