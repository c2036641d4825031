/**
 * A client that leaves before its answer is neither a bad request nor a connector failure: it is
 * counted as `client_aborted` and the connector serves on.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryObjectStore } from '../../src/store/memory/memory-store.ts';
import { wholeBody } from '../contract/object-store-contract.ts';
import { withInProcess } from '../helpers/in-process-connector.ts';
import { request } from '../helpers/socket-http.ts';

/** Waits (up to a second) until the connector has counted the departure, then checks it was counted as nothing else. */
async function countedOnceAsClientAborted(socketPath: string): Promise<void> {
  let metrics = '';
  for (let i = 0; i < 50 && !/asya_state_errors_total\{code="client_aborted"\} 1/.test(metrics); i++) {
    await sleep(20);
    metrics = (await request(socketPath, '/metrics')).text();
  }
  assert.match(metrics, /asya_state_errors_total\{code="client_aborted"\} 1/);
  assert.doesNotMatch(metrics, /asya_state_errors_total\{code="(bad_request|internal_error)"\}/);
}

describe('a client that leaves', () => {
  it('mid-listing is counted as client_aborted, not bad_request or internal_error', async () => {
    const store = new MemoryObjectStore('memory');
    for (let i = 0; i < 3000; i++) await store.write(`l/${'n'.repeat(1000)}${String(i).padStart(4, '0')}`, wholeBody(Buffer.from('x')), { contentType: 'text/plain' });
    await withInProcess({ variant: 'lww', store }, async (c) => {
      await new Promise<void>((resolve) => {
        const socket = connect({ path: c.socketPath }, () => { socket.write('GET /keys/?prefix=l/&delimiter= HTTP/1.1\r\nHost: x\r\n\r\n'); });
        // The first bytes show the listing streams; then the client goes, with pages still to send.
        socket.once('data', () => { socket.destroy(); resolve(); });
      });
      await countedOnceAsClientAborted(c.socketPath);
      assert.equal((await request(c.socketPath, '/keys/?prefix=l/&limit=1')).status, 200, 'and serves on');
    });
  });

  it('mid-body is counted as client_aborted, and nothing is stored', async () => {
    const store = new MemoryObjectStore('memory');
    await withInProcess({ variant: 'cas', store }, async (c) => {
      await new Promise<void>((resolve) => {
        const socket = connect({ path: c.socketPath }, () => {
          socket.write('PUT /keys/cut.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n');
          socket.write(Buffer.alloc(300_000, 1), () => { socket.destroy(); resolve(); });
        });
      });
      await countedOnceAsClientAborted(c.socketPath);
      assert.equal((await request(c.socketPath, '/keys/cut.bin')).status, 404, 'nothing stored');
    });
  });
});
