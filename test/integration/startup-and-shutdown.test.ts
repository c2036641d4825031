/**
 * Starting and stopping the real process: configuration errors, the bucket check, the
 * socket file (stale, live, mode), and SIGTERM with uploads in flight.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectorEnv, runToExit, startConnector, withConnector } from '../helpers/connector.ts';
import { freePort, getDirect, startEmulator, type Emulator } from '../helpers/emulator.ts';
import { startFaultProxy } from '../helpers/fault-proxy.ts';
import { request, slowPut } from '../helpers/socket-http.ts';

let emulator: Emulator;
const bucket = 'startup-bucket';
before(async () => {
  emulator = await startEmulator();
  await emulator.createBucket(bucket);
});
after(async () => { await emulator.stop(); });

function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'asya-startup-'));
  return connectorEnv({ emulatorOrigin: emulator.origin, bucket, variant: 'lww', env: extra }, join(dir, 's.sock'));
}

describe('configuration errors stop start-up with one line naming the variable (exit 78)', () => {
  for (const variable of ['CONNECTOR_SOCKET', 'STATE_BUCKET']) {
    it(`missing ${variable}`, async () => {
      const env = Object.fromEntries(Object.entries(baseEnv()).filter(([name]) => name !== variable));
      const { code, stderr } = await runToExit(env);
      assert.equal(code, 78);
      const lines = stderr.trim().split('\n');
      assert.equal(lines.length, 1, stderr);
      assert.match(lines[0] ?? '', new RegExp(`^configuration error: ${variable} is required`));
    });
  }

  for (const args of [[], ['eventual']]) {
    it(`variant argument ${args[0] ?? 'missing'}`, async () => {
      const { code, stderr } = await runToExit(baseEnv(), args);
      assert.equal(code, 78);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
      assert.match(stderr, /^configuration error: the variant .*first argument.*"lww".*"cas"/);
    });
  }

  const malformed: Record<string, string> = {
    CONNECTOR_SOCKET: 'relative/path.sock',
    STATE_BUCKET: 'Not_A_Bucket!',
    STATE_PREFIX: 'a//b',
    STORAGE_EMULATOR_HOST: 'ftp://x',
    STATE_PRESIGN_TTL: '999999999',
    CONNECTOR_MAX_BODY: '0',
    CONNECTOR_MEMORY_BUDGET: '1Mi',
    CONNECTOR_OPS_PORT: '99999',
    CONNECTOR_CACHE: 'cache',
  };
  for (const [variable, value] of Object.entries(malformed)) {
    it(`malformed ${variable}=${value}`, async () => {
      const { code, stderr } = await runToExit(baseEnv({ [variable]: value }));
      assert.equal(code, 78);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
      assert.match(stderr, new RegExp(`^configuration error: ${variable} must `));
    });
  }
});

describe('variables earlier versions read', () => {
  for (const variable of ['CONNECTOR_VARIANT', 'CONNECTOR_CACHE_DIR', 'GCS_TIMEOUT_MS', 'CONNECTOR_UPLOAD_STREAMS', 'GCS_ENDPOINT', 'CONNECTOR_TMPDIR']) {
    it(`${variable} set: exit 78 with one line naming it, what became of it, and to remove it`, async () => {
      const { code, stderr } = await runToExit(baseEnv({ [variable]: 'x' }));
      assert.equal(code, 78);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
      assert.match(stderr, new RegExp(`^configuration error: ${variable} is no longer read \\(.+\\); remove it from the environment`));
    });
  }
});

describe('the bucket check at start', () => {
  it('a missing bucket stops start-up with a message that says so (exit 1)', async () => {
    const env = { ...baseEnv(), STATE_BUCKET: 'no-such-bucket' };
    const { code, stdout } = await runToExit(env);
    assert.equal(code, 1);
    assert.match(stdout, /bucket gs:\/\/no-such-bucket does not exist; create it first/);
  });

  it('an unreachable endpoint stops start-up with a message that says so (exit 1)', async () => {
    const port = await freePort();
    const env = { ...baseEnv(), STORAGE_EMULATOR_HOST: `http://127.0.0.1:${port}` };
    const { code, stdout } = await runToExit(env);
    assert.equal(code, 1);
    assert.match(stdout, /cannot use bucket gs:\/\/startup-bucket: GCS unreachable/);
  });

  it('credentials refused (403) stop start-up with a message naming the role to grant (exit 1)', async () => {
    const proxy = await startFaultProxy(emulator.origin);
    try {
      proxy.inject(() => true, { kind: 'status', status: 403 }, 100);
      const { code, stdout } = await runToExit({ ...baseEnv(), STORAGE_EMULATOR_HOST: proxy.origin });
      assert.equal(code, 1);
      assert.match(stdout, /refused the credentials/);
      assert.match(stdout, /roles\/storage\.objectUser/);
    } finally {
      await proxy.close();
    }
  });
});

describe('the socket file', () => {
  it('is created with mode 0666 by default, so a runtime running as another user can connect', async () => {
    await withConnector(emulator, { bucket, variant: 'lww' }, async (connector) => {
      assert.equal(statSync(connector.socketPath).mode & 0o777, 0o666);
    });
  });

  it('a stale socket left by a killed connector is replaced at start', async () => {
    const first = await startConnector({ emulatorOrigin: emulator.origin, bucket, variant: 'lww' });
    await first.kill();
    assert.ok(existsSync(first.socketPath), 'SIGKILL leaves the socket file behind');
    await withConnector(emulator, { bucket, variant: 'lww', socketPath: first.socketPath }, async (second) => {
      assert.ok(second.output.some((line) => line.includes('replaced a stale socket')));
      assert.equal((await request(second.socketPath, '/healthz')).status, 200);
    });
  });

  it('a live socket is never taken over: the second connector exits 1', async () => {
    await withConnector(emulator, { bucket, variant: 'lww' }, async (first) => {
      const env = connectorEnv({ emulatorOrigin: emulator.origin, bucket, variant: 'lww' }, first.socketPath);
      const { code, stdout } = await runToExit(env);
      assert.equal(code, 1);
      assert.match(stdout, /another process is already serving/);
      assert.equal((await request(first.socketPath, '/healthz')).status, 200);
    });
  });
});

describe('SIGTERM', () => {
  it('lets an upload in flight finish, removes the socket and exits 0', async () => {
    const connector = await startConnector({ emulatorOrigin: emulator.origin, bucket, variant: 'lww' });
    const body = Buffer.alloc(2 * 1024 * 1024, 7);
    // Sent over about 600 ms, with SIGTERM at 200 ms: the request is in flight at the signal.
    const answer = slowPut(connector.socketPath, 'shutdown/in-flight', body, 10, 60);
    await sleep(200);
    connector.process.kill('SIGTERM');
    assert.equal(await answer, 204);
    assert.equal(await connector.exited(), 0);
    assert.equal((await getDirect(emulator, bucket, 'shutdown/in-flight'))?.length, body.length);
    assert.ok(!existsSync(connector.socketPath), 'the socket file is removed');
    assert.ok(connector.output.some((line) => line.includes('"message":"stopped"')));
  });

  it('SIGINT stops an idle connector the same way', async () => {
    const connector = await startConnector({ emulatorOrigin: emulator.origin, bucket, variant: 'cas' });
    connector.process.kill('SIGINT');
    assert.equal(await connector.exited(), 0);
    assert.ok(!existsSync(connector.socketPath));
  });
});

describe('logs', () => {
  it('are one JSON object per line and hold no object contents', async () => {
    const connector = await startConnector({ emulatorOrigin: emulator.origin, bucket, variant: 'lww', settings: { logLevel: 'debug' } });
    const secret = 'CONTENT-THAT-MUST-NOT-BE-LOGGED';
    await request(connector.socketPath, '/keys/log/k', { method: 'PUT', body: secret });
    await request(connector.socketPath, '/keys/log/k');
    await connector.stop();
    const lines = connector.output.filter((line) => line.trim() !== '');
    assert.ok(lines.length >= 3);
    for (const line of lines) {
      const record = JSON.parse(line) as { time: string; severity: string; message: string };
      assert.ok(record.time && ['DEBUG', 'INFO', 'WARNING', 'ERROR'].includes(record.severity) && record.message, line);
      assert.ok(!line.includes(secret), 'object contents never reach the log');
    }
  });
});

