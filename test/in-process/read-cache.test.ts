/**
 * The read cache in process over the in-memory store, which answers conditional reads as
 * GCS does: a hit is served from disk only once the store confirmed the generation, and a
 * change behind the connector's back is never served stale.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { withInProcess } from '../helpers/in-process-connector.ts';
import { metricValue, request } from '../helpers/socket-http.ts';
import { wholeBody } from '../contract/object-store-contract.ts';

describe('read cache in process', () => {
  let cacheDir: string;
  before(async () => { cacheDir = await mkdtemp(join(tmpdir(), 'asya-cache-')); });
  after(async () => { await rm(cacheDir, { recursive: true, force: true }); });

  it('a second read is a hit; a write behind the connector is a miss with the new bytes', () => withInProcess({
    variant: 'lww', settings: { cache: { dir: cacheDir, minObjectBytes: 0, maxBytes: 1024 * 1024 } },
  }, async (c) => {
    await c.store.write('model.bin', wholeBody(Buffer.from('version one')), { contentType: 'application/octet-stream' });
    assert.equal((await request(c.socketPath, '/keys/model.bin')).text(), 'version one');
    assert.equal((await request(c.socketPath, '/keys/model.bin')).text(), 'version one');
    assert.equal(await metricValue(c.socketPath, 'asya_state_cache_hits_total'), 1);
    assert.equal(await metricValue(c.socketPath, 'asya_state_cache_misses_total'), 1);
    await c.store.write('model.bin', wholeBody(Buffer.from('version two')), { contentType: 'application/octet-stream' });
    assert.equal((await request(c.socketPath, '/keys/model.bin')).text(), 'version two');
    assert.equal(await metricValue(c.socketPath, 'asya_state_cache_hits_total'), 1);
    assert.equal(await metricValue(c.socketPath, 'asya_state_cache_misses_total'), 2);
  }));
});
