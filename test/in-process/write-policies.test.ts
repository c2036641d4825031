/**
 * The two write policies through the protocol, in process over the in-memory store: what
 * LWW writes unconditionally, what CAS makes conditional on the generation it saw, and
 * the explicit preconditions both honour.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withInProcess, type InProcessConnector } from '../helpers/in-process-connector.ts';
import { request, type Answer } from '../helpers/socket-http.ts';
import { wholeBody } from '../contract/object-store-contract.ts';

const get = (c: InProcessConnector, key: string): Promise<Answer> => request(c.socketPath, `/keys/${key}`);
const put = (c: InProcessConnector, key: string, body: string, headers: Record<string, string> = {}): Promise<Answer> =>
  request(c.socketPath, `/keys/${key}`, { method: 'PUT', body, headers });
/** Another writer, straight to the store. */
const writeBehind = async (c: InProcessConnector, key: string, body: string): Promise<string> =>
  (await c.store.write(key, wholeBody(Buffer.from(body)), { contentType: 'text/plain' })).generation;
const reason = (answer: Answer): string | undefined => answer.json<{ reason?: string }>().reason;

describe('LWW in process', () => {
  it('a write after another writer changed the object overwrites it', () => withInProcess({ variant: 'lww' }, async (c) => {
    await put(c, 'k', 'v1');
    await get(c, 'k');
    await writeBehind(c, 'k', 'theirs');
    assert.equal((await put(c, 'k', 'mine')).status, 204);
    assert.equal((await get(c, 'k')).text(), 'mine');
  }));

  it('If-None-Match: * and If-Match are honoured', () => withInProcess({ variant: 'lww' }, async (c) => {
    const created = await put(c, 'k', 'v1', { 'if-none-match': '*' });
    assert.equal(created.status, 204);
    const again = await put(c, 'k', 'v2', { 'if-none-match': '*' });
    assert.equal(again.status, 409);
    assert.equal(reason(again), 'exists');
    const stale = await put(c, 'k', 'v2', { 'if-match': '"1"' });
    assert.equal(stale.status, 409);
    assert.equal(reason(stale), 'generation_mismatch');
    assert.equal((await put(c, 'k', 'v2', { 'if-match': String(created.headers.etag) })).status, 204);
  }));
});

describe('CAS in process', () => {
  it('a write after another writer changed what was read is 409 generation_mismatch, and nothing changes', () => withInProcess({ variant: 'cas' }, async (c) => {
    await put(c, 'k', 'v1');
    await get(c, 'k');
    await writeBehind(c, 'k', 'theirs');
    const conflict = await put(c, 'k', 'mine');
    assert.equal(conflict.status, 409);
    assert.equal(reason(conflict), 'generation_mismatch');
    assert.equal((await get(c, 'k')).text(), 'theirs');
  }));

  it('a conflict drops the remembered generation: the handler reads again, then writes', () => withInProcess({ variant: 'cas' }, async (c) => {
    await put(c, 'k', 'v1');
    await writeBehind(c, 'k', 'theirs');
    assert.equal((await put(c, 'k', 'mine')).status, 409);
    assert.equal((await get(c, 'k')).text(), 'theirs');
    assert.equal((await put(c, 'k', 'mine')).status, 204);
  }));

  it('a key read as absent and created by another writer meanwhile is a conflict, not an overwrite', () => withInProcess({ variant: 'cas' }, async (c) => {
    assert.equal((await get(c, 'new')).status, 404);
    await writeBehind(c, 'new', 'theirs');
    const conflict = await put(c, 'new', 'mine');
    assert.equal(conflict.status, 409);
    assert.equal(reason(conflict), 'generation_mismatch');
  }));

  it('a key never read is written unconditionally', () => withInProcess({ variant: 'cas' }, async (c) => {
    await writeBehind(c, 'k', 'theirs');
    assert.equal((await put(c, 'k', 'mine')).status, 204);
  }));

  it('DELETE forgets the key', () => withInProcess({ variant: 'cas' }, async (c) => {
    await put(c, 'k', 'v1');
    assert.equal((await request(c.socketPath, '/keys/k', { method: 'DELETE' })).status, 204);
    await writeBehind(c, 'k', 'theirs');
    assert.equal((await put(c, 'k', 'mine')).status, 204);
  }));

  it('the generation attribute is the remembered one', () => withInProcess({ variant: 'cas' }, async (c) => {
    const written = await put(c, 'k', 'v1');
    const attribute = await request(c.socketPath, '/meta/k?attr=generation');
    assert.equal(`"${attribute.json<{ value: string }>().value}"`, written.headers.etag);
  }));

  it('a key pushed out of a full memory is answered 409 on its next write, never written unconditionally', () => withInProcess({ variant: 'cas', settings: { casMemoryKeys: 2 } }, async (c) => {
    for (const key of ['a', 'b', 'c']) await put(c, key, 'v1');
    await get(c, 'b');
    await get(c, 'c');
    const evicted = await put(c, 'a', 'v2');
    assert.equal(evicted.status, 409);
    assert.equal((await get(c, 'a')).text(), 'v1');
  }));
});
