/**
 * Answers lost after GCS acted: the write or delete landed, the connection broke before
 * its answer came. A fault proxy in front of fake-gcs-server loses them; the connector
 * must retry and still tell the truth (docs/semantics.md, "Retries").
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { withConnector } from '../helpers/connector.ts';
import { generationDirect, getDirect, putDirect, startEmulator, type Emulator } from '../helpers/emulator.ts';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { metricValue, request } from '../helpers/socket-http.ts';

let emulator: Emulator;
before(async () => { emulator = await startEmulator(); });
after(async () => { await emulator.stop(); });

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

  it('cas: when the answer was lost and reading the object back fails too, the outcome is unknown: 503, never 409', async () => {
    await withConnector(proxy, { bucket, variant: 'cas' }, async (connector) => {
      const sock = connector.socketPath;
      await putDirect(emulator, bucket, 'cas/unknown', 'v1');
      await request(sock, '/keys/cas/unknown');
      proxy.inject(isUpload, { kind: 'lose-answer' });
      const isReadBack = (req: { method?: string | undefined; url?: string | undefined }): boolean =>
        req.method === 'GET' && (req.url ?? '').startsWith(`/storage/v1/b/${bucket}/o/cas%2Funknown?`);
      proxy.inject(isReadBack, { kind: 'status', status: 503 }, 10);
      const res = await request(sock, '/keys/cas/unknown', { method: 'PUT', body: 'v2' });
      assert.equal(res.status, 503, res.text());
      assert.match(res.json<{ message: string }>().message, /may have landed with its answer lost, and reading it back failed.*read the key/);
      proxy.clear();
      assert.equal((await getDirect(emulator, bucket, 'cas/unknown'))?.toString(), 'v2', 'it had landed: the 503 did not claim otherwise');
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
