/**
 * Compare-and-set as the protocol's Variants section says, in-process over the in-memory
 * store (held to the GCS store's contract, preconditions included); and the LWW contrast.
 * What GCS itself adds (answers lost after it acted) is in test/integration/lost-answers.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryObjectStore } from '../../src/store/memory/memory-store.ts';
import { getObject, putObject, startInProcess, withInProcess, type InProcessConnector } from '../helpers/in-process-connector.ts';
import { metricValue, request } from '../helpers/socket-http.ts';

describe('cas variant', () => {
  const store = new MemoryObjectStore();
  let connector: InProcessConnector;
  let sock: string;
  before(async () => {
    connector = await startInProcess({ variant: 'cas', store });
    sock = connector.socketPath;
  });
  after(async () => { await connector.stop(); });

  it('a write after an external change since the read answers 409 and leaves the external version', async () => {
    await putObject(store, 'ext/k', 'v1');
    assert.equal((await request(sock, '/keys/ext/k')).text(), 'v1');
    await putObject(store, 'ext/k', 'external');
    const res = await request(sock, '/keys/ext/k', { method: 'PUT', body: 'mine' });
    assert.equal(res.status, 409);
    assert.equal(res.json().error, 'conflict');
    assert.equal(res.json().reason, 'generation_mismatch');
    assert.equal((await getObject(store, 'ext/k'))?.toString(), 'external');
  });

  it('read–modify–write by two clients: the second gets 409, then succeeds after a fresh read', async () => {
    // Two handlers in one pod share the connector; they are told apart by their reads.
    // A separate connector per client makes each one's memory its own, as two pods.
    await withInProcess({ variant: 'cas', store }, async (other) => {
      await request(sock, '/keys/rmw/counter', { method: 'PUT', body: '0' });
      const a = Number((await request(sock, '/keys/rmw/counter')).text());
      const b = Number((await request(other.socketPath, '/keys/rmw/counter')).text());
      assert.equal((await request(sock, '/keys/rmw/counter', { method: 'PUT', body: String(a + 1) })).status, 204);
      const lost = await request(other.socketPath, '/keys/rmw/counter', { method: 'PUT', body: String(b + 1) });
      assert.equal(lost.status, 409);
      const fresh = Number((await request(other.socketPath, '/keys/rmw/counter')).text());
      assert.equal((await request(other.socketPath, '/keys/rmw/counter', { method: 'PUT', body: String(fresh + 1) })).status, 204);
      assert.equal((await getObject(store, 'rmw/counter'))?.toString(), '2');
    });
  });

  it('two clients that both saw 404 race to create: exactly one wins', async () => {
    await withInProcess({ variant: 'cas', store }, async (other) => {
      assert.equal((await request(sock, '/keys/race/new')).status, 404);
      assert.equal((await request(other.socketPath, '/keys/race/new')).status, 404);
      const answers = await Promise.all([
        request(sock, '/keys/race/new', { method: 'PUT', body: 'from-a' }),
        request(other.socketPath, '/keys/race/new', { method: 'PUT', body: 'from-b' }),
      ]);
      const statuses = answers.map((res) => res.status).sort();
      assert.deepEqual(statuses, [204, 409]);
      const winner = answers[0].status === 204 ? 'from-a' : 'from-b';
      assert.equal((await getObject(store, 'race/new'))?.toString(), winner);
      const loser = answers.find((res) => res.status === 409);
      assert.equal(loser?.json().reason, 'generation_mismatch', 'an implicit absent-condition losing is a CAS conflict, not an exclusive create');
    });
  });

  it('a blind write of a never-observed key succeeds unconditionally, even over an existing object', async () => {
    await putObject(store, 'blind/k', 'existing');
    const res = await request(sock, '/keys/blind/k', { method: 'PUT', body: 'blind' });
    assert.equal(res.status, 204);
    assert.equal((await getObject(store, 'blind/k'))?.toString(), 'blind');
  });

  it('exclusive create (If-None-Match: *) answers 409 reason "exists" when the key exists', async () => {
    await putObject(store, 'excl/k', 'there');
    const res = await request(sock, '/keys/excl/k', { method: 'PUT', body: 'x', headers: { 'if-none-match': '*' } });
    assert.equal(res.status, 409);
    assert.equal(res.json().reason, 'exists');
  });

  it('a conflict forgets the key: the next write without a read is unconditional', async () => {
    await putObject(store, 'forget/k', 'v1');
    await request(sock, '/keys/forget/k');
    await putObject(store, 'forget/k', 'v2');
    assert.equal((await request(sock, '/keys/forget/k', { method: 'PUT', body: 'mine' })).status, 409);
    assert.equal((await request(sock, '/keys/forget/k', { method: 'PUT', body: 'mine' })).status, 204);
  });

  it('a successful write remembers the new generation: consecutive writes by one handler succeed', async () => {
    await request(sock, '/keys/seq/k');
    for (let i = 0; i < 3; i++) assert.equal((await request(sock, '/keys/seq/k', { method: 'PUT', body: String(i) })).status, 204);
    await putObject(store, 'seq/k', 'external');
    assert.equal((await request(sock, '/keys/seq/k', { method: 'PUT', body: 'late' })).status, 409);
  });

  it('a GET that found nothing makes the next write conditional on absence', async () => {
    assert.equal((await request(sock, '/keys/absent/k')).status, 404);
    await putObject(store, 'absent/k', 'someone else');
    assert.equal((await request(sock, '/keys/absent/k', { method: 'PUT', body: 'mine' })).status, 409);
    assert.equal((await getObject(store, 'absent/k'))?.toString(), 'someone else');
  });

  it('DELETE forgets the key', async () => {
    await request(sock, '/keys/del/k', { method: 'PUT', body: 'v1' });
    await request(sock, '/keys/del/k');
    assert.equal((await request(sock, '/keys/del/k', { method: 'DELETE' })).status, 204);
    await putObject(store, 'del/k', 'recreated elsewhere');
    assert.equal((await request(sock, '/keys/del/k', { method: 'PUT', body: 'mine' })).status, 204);
  });

  it('GET /meta/{key}?attr=generation answers the remembered generation', async () => {
    await putObject(store, 'gen/k', 'v1');
    const etag = (await request(sock, '/keys/gen/k')).headers.etag;
    const external = await putObject(store, 'gen/k', 'v2');
    const remembered = (await request(sock, '/meta/gen/k?attr=generation')).json().value;
    assert.equal(`"${String(remembered)}"`, etag);
    assert.notEqual(remembered, external);
  });

  it('counts conflicts in /metrics by reason', async () => {
    const before = await metricValue(sock, 'asya_state_conflicts_total', { reason: 'generation_mismatch' });
    await putObject(store, 'metric/k', 'v1');
    await request(sock, '/keys/metric/k');
    await putObject(store, 'metric/k', 'v2');
    await request(sock, '/keys/metric/k', { method: 'PUT', body: 'x' });
    assert.equal(await metricValue(sock, 'asya_state_conflicts_total', { reason: 'generation_mismatch' }), before + 1);
  });
});

describe('cas variant: bounded memory', () => {
  const store = new MemoryObjectStore();
  let connector: InProcessConnector;
  before(async () => {
    connector = await startInProcess({ variant: 'cas', store, settings: { casMemoryKeys: 2 } });
  });
  after(async () => { await connector.stop(); });

  it('a key pushed out of memory between read and write gets 409 (never an unconditional overwrite), then works after a fresh read', async () => {
    const sock = connector.socketPath;
    await putObject(store, 'k1', 'v1');
    await request(sock, '/keys/k1');
    for (const key of ['k2', 'k3', 'k4']) await request(sock, `/keys/${key}`);
    const res = await request(sock, '/keys/k1', { method: 'PUT', body: 'mine' });
    assert.equal(res.status, 409);
    assert.match(String(res.json().message), /pushed out of the connector's memory.*CONNECTOR_MEMORY_BUDGET/);
    await request(sock, '/keys/k1');
    assert.equal((await request(sock, '/keys/k1', { method: 'PUT', body: 'mine' })).status, 204);
  });
});

describe('If-Match survives a connector restart (both variants)', () => {
  const store = new MemoryObjectStore();

  for (const variant of ['lww', 'cas'] as const) {
    it(`${variant}: an ETag read before a restart still guards the write after it`, async () => {
      const first = await startInProcess({ variant, store });
      await request(first.socketPath, `/keys/${variant}`, { method: 'PUT', body: 'v1' });
      const etag = (await request(first.socketPath, `/keys/${variant}`)).headers.etag ?? '';
      await first.stop();
      await withInProcess({ variant, store }, async (second) => {
        assert.equal((await request(second.socketPath, `/keys/${variant}`, { method: 'PUT', body: 'v2', headers: { 'if-match': etag } })).status, 204);
        assert.equal((await request(second.socketPath, `/keys/${variant}`, { method: 'PUT', body: 'v3', headers: { 'if-match': etag } })).status, 409);
      });
    });
  }
});

describe('lww variant', () => {
  const store = new MemoryObjectStore();
  let connector: InProcessConnector;
  before(async () => {
    connector = await startInProcess({ variant: 'lww', store });
  });
  after(async () => { await connector.stop(); });

  it('a write after an external change since the read wins (no implicit condition)', async () => {
    await putObject(store, 'k', 'v1');
    await request(connector.socketPath, '/keys/k');
    await putObject(store, 'k', 'external');
    assert.equal((await request(connector.socketPath, '/keys/k', { method: 'PUT', body: 'mine' })).status, 204);
    assert.equal((await getObject(store, 'k'))?.toString(), 'mine');
  });
});

