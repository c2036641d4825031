/**
 * Process and client faults: SIGKILL in the middle of uploads (the object is afterwards
 * the old or the new version, never partial), SIGTERM with several uploads in flight, a
 * client leaving mid-download while other downloads finish intact, and a backend that
 * stalls or cuts its answers (no leaked sockets or descriptors).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../src/config.ts';
import { startConnector, withConnector } from '../helpers/connector.ts';
import { getDirect, putDirect, startEmulator, type Emulator } from '../helpers/emulator.ts';
import { startFaultProxy } from '../helpers/fault-proxy.ts';
import { recordFigures } from '../helpers/figures.ts';
import { openFds } from '../helpers/proc.ts';
import { request, slowPut } from '../helpers/socket-http.ts';

const MIB = 1024 * 1024;
let emulator: Emulator;
const bucket = 'process-faults';

before(async () => {
  emulator = await startEmulator();
  await emulator.createBucket(bucket);
});
after(async () => { await emulator.stop(); });

function filled(size: number, byte: number): Buffer {
  return Buffer.alloc(size, byte);
}

interface KillRounds {
  readonly rounds: number;
  readonly keyPrefix: string;
  readonly oldBytes: number;
  readonly newBytes: number;
  readonly variant: 'lww' | 'cas';
  readonly settings?: Partial<Config>;
  /** The new body goes in this many pieces, this far apart. */
  readonly pieces: number;
  readonly pauseMs: number;
  /** When round `round` kills the connector, after the PUT started. */
  readonly killAfterMs: (round: number) => number;
}

/** PUTs a new version over an old one and SIGKILLs the connector mid-way, a different moment each round. */
async function killRounds(options: KillRounds): Promise<{ old: number; new: number }> {
  const outcomes = { old: 0, new: 0 };
  for (let round = 0; round < options.rounds; round++) {
    const key = `${options.keyPrefix}/k${round}`;
    const oldBody = filled(options.oldBytes, 0x61);
    const newBody = filled(options.newBytes, 0x62);
    await putDirect(emulator, bucket, key, oldBody);
    const connector = await startConnector({ emulatorOrigin: emulator.origin, bucket, variant: options.variant, ...(options.settings === undefined ? {} : { settings: options.settings }) });
    const put = slowPut(connector.socketPath, key, newBody, options.pieces, options.pauseMs);
    await sleep(options.killAfterMs(round));
    await connector.kill();
    await put;
    const stored = await getDirect(emulator, bucket, key);
    assert.ok(stored !== undefined, 'the object still exists');
    const isOld = stored.equals(oldBody);
    assert.ok(isOld || stored.equals(newBody), `round ${round}: stored ${stored.length} bytes, neither the old nor the new version`);
    outcomes[isOld ? 'old' : 'new'] += 1;
  }
  return outcomes;
}

describe('SIGKILL during uploads', () => {
  it('leaves every object at its old or its new version, never partial', async () => {
    // Kill at a different moment each round: while receiving or uploading.
    const outcomes = await killRounds({ rounds: 12, keyPrefix: 'kill', oldBytes: 3 * MIB, newBytes: 6 * MIB, variant: 'lww', pieces: 24, pauseMs: 5, killAfterMs: (round) => 20 + round * 25 });
    recordFigures('SIGKILL during upload', { rounds: 12, ...outcomes, partial: 0 });
  });
});

describe('SIGKILL during streamed uploads', () => {
  it('an object streamed in chunks stays at its old version until the last chunk: never partial, nothing on disk', async () => {
    // 1 MiB chunks: a dozen resumable chunks reach GCS before the object would appear.
    const outcomes = await killRounds({
      rounds: 8, keyPrefix: 'kill-streamed', oldBytes: MIB, newBytes: 12 * MIB, variant: 'cas', settings: { uploadChunkBytes: MIB }, pieces: 24, pauseMs: 10, killAfterMs: (round) => 40 + round * 60,
    });
    assert.ok(outcomes.old > 0, 'at least one kill landed mid-stream');
    recordFigures('SIGKILL during streamed upload', { rounds: 8, ...outcomes, partial: 0 });
  });
});

describe('SIGTERM with several uploads in flight', () => {
  it('finishes all of them, then removes the socket and exits 0', async () => {
    const connector = await startConnector({ emulatorOrigin: emulator.origin, bucket, variant: 'cas' });
    const bodies = Array.from({ length: 6 }, (_, i) => filled(MIB + i, 0x30 + i));
    const puts = bodies.map((body, i) => slowPut(connector.socketPath, `term/k${i}`, body, 10, 30));
    await sleep(100);
    connector.process.kill('SIGTERM');
    const statuses = await Promise.all(puts);
    assert.deepEqual(statuses, bodies.map(() => 204));
    assert.equal(await connector.exited(), 0);
    assert.ok(!existsSync(connector.socketPath));
    for (const [i, body] of bodies.entries()) assert.deepEqual(await getDirect(emulator, bucket, `term/k${i}`), body);
    recordFigures('SIGTERM with uploads in flight', { uploads: bodies.length, completed: statuses.length, exit_code: 0 });
  });
});

describe('a client leaving mid-download', () => {
  it('does not disturb other downloads in flight', async () => {
    await withConnector(emulator, { bucket, variant: 'lww' }, async (connector) => {
      const body = Buffer.alloc(16 * MIB);
      for (let i = 0; i < body.length; i += 4) body.writeUInt32LE((i * 2654435761) >>> 0, i);
      const digest = createHash('md5').update(body).digest('hex');
      await putDirect(emulator, bucket, 'dl/big', body);

      const download = (abortAfter: number | undefined): Promise<string> => new Promise((resolve, reject) => {
        const req = httpRequest({ socketPath: connector.socketPath, path: '/keys/dl/big', agent: false }, (res) => {
          const hash = createHash('md5');
          let received = 0;
          res.on('data', (chunk: Buffer) => {
            hash.update(chunk);
            received += chunk.length;
            if (abortAfter !== undefined && received >= abortAfter) {
              req.destroy();
              resolve('aborted');
            }
          });
          res.on('end', () => { resolve(hash.digest('hex')); });
          res.on('error', () => { resolve('aborted'); });
        });
        req.on('error', (error) => { if (abortAfter === undefined) reject(error); });
        req.end();
      });

      // A first round fills the pool of connections to GCS (ranged reads open several);
      // descriptors are counted from there.
      assert.deepEqual(await Promise.all(Array.from({ length: 6 }, () => download(undefined))), Array.from({ length: 6 }, () => digest));
      await sleep(200);
      const fdsBefore = openFds(connector.process.pid ?? 0);
      const results = await Promise.all([download(undefined), download(MIB), download(undefined), download(2 * MIB), download(undefined), download(64 * 1024)]);
      assert.deepEqual(results, [digest, 'aborted', digest, 'aborted', digest, 'aborted']);
      assert.equal((await request(connector.socketPath, '/keys/dl/big')).body.length, body.length);
      await sleep(200);
      const fdsAfter = openFds(connector.process.pid ?? 0);
      recordFigures('client gone mid-download', { downloads: 6, aborted_by_client: 3, intact: 3, fds_before: fdsBefore, fds_after: fdsAfter });
      assert.ok(fdsAfter <= fdsBefore + 2, `no leaked descriptors (${fdsBefore} → ${fdsAfter})`);
    });
  });
});

describe('a backend that stalls or cuts its answers', () => {
  it('answers 504 at the deadline or cuts the download, and leaks no sockets or descriptors', async () => {
    const proxy = await startFaultProxy(emulator.origin);
    const timeoutMs = 800;
    await withConnector(proxy, { bucket, variant: 'lww', settings: { gcsTimeoutMs: timeoutMs, gcsMaxAttempts: 2 } }, async (connector) => {
      await putDirect(emulator, bucket, 'stall/k', filled(MIB, 1));
      await request(connector.socketPath, '/keys/stall/k');
      const fdsBefore = openFds(connector.process.pid ?? 0);

      proxy.inject((req) => req.method === 'GET', { kind: 'stall' }, 40);
      const started = Date.now();
      const stalled = await Promise.all(Array.from({ length: 20 }, () => request(connector.socketPath, '/keys/stall/k')));
      const elapsed = Date.now() - started;
      proxy.clear();
      assert.deepEqual([...new Set(stalled.map((res) => res.status))], [504]);

      proxy.inject((req) => req.method === 'GET', { kind: 'lose-answer' }, 2);
      const cut = await request(connector.socketPath, '/keys/stall/k');
      assert.ok([503, 504].includes(cut.status), `a lost answer ends in ${cut.status}`);

      assert.equal((await request(connector.socketPath, '/keys/stall/k')).body.length, MIB, 'serving again');
      await proxy.close();
      await sleep(300);
      const fdsAfter = openFds(connector.process.pid ?? 0);
      recordFigures('stalled and cut backend', {
        stalled_requests: 20, answered_504: stalled.length, wall_ms: elapsed, gcs_timeout_ms: timeoutMs, fds_before: fdsBefore, fds_after: fdsAfter,
      });
      assert.ok(fdsAfter <= fdsBefore + 2, `no leaked descriptors (${fdsBefore} → ${fdsAfter})`);
    });
  });
});
