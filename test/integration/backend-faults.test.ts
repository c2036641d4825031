/**
 * The error table's backend rows, with a fault-injecting proxy in front of the emulator
 * (GCS refusing credentials, rate limits, 5xx, stalls, 412) and with the emulator killed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startConnector, type Connector } from '../helpers/connector.ts';
import { getDirect, putDirect, type Emulator } from '../helpers/emulator.ts';
import type { FaultProxy } from '../helpers/fault-proxy.ts';
import { startProxiedConnector, type ProxiedConnector } from '../helpers/proxied-connector.ts';
import { recordFigures } from '../helpers/figures.ts';
import { metricValue, request } from '../helpers/socket-http.ts';

let emulator: Emulator;
let proxy: FaultProxy;
let connector: Connector;
let sock: string;
const bucket = 'backend-faults';
const TIMEOUT_MS = 1500;

let setup: ProxiedConnector;

before(async () => {
  setup = await startProxiedConnector(bucket, { variant: 'cas', settings: { gcsTimeoutMs: TIMEOUT_MS, gcsMaxAttempts: 3 } });
  ({ emulator, proxy, connector } = setup);
  sock = connector.socketPath;
});
after(async () => {
  await setup.stop();
});

const isGet = (req: { method?: string | undefined }): boolean => req.method === 'GET';

/** The log lines the connector wrote while `run` ran, parsed. */
async function logDuring(run: () => Promise<unknown>): Promise<Array<Record<string, unknown>>> {
  const from = connector.output.length;
  await run();
  // The line is written before the answer is sent; give the pipe a moment to deliver it.
  for (let i = 0; i < 50 && connector.output.length === from; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  return connector.output.slice(from).filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('failures the caller did not cause reach the log, one line each', () => {
  it('GCS refusing the credentials: ERROR with op, path, object, GCS status and reason, attempts', async () => {
    await putDirect(emulator, bucket, 'logged/k', 'x');
    proxy.inject(isGet, { kind: 'status', status: 403 });
    const lines = await logDuring(() => request(sock, '/keys/logged/k'));
    assert.equal(lines.length, 1, JSON.stringify(lines));
    assert.deepEqual({ ...lines[0], time: undefined, ms: undefined }, {
      severity: 'ERROR',
      message: 'get answered 403 permission_denied: GCS refused the credentials for gs://backend-faults/logged/k (HTTP 403): injected HTTP 403. The service account needs roles/storage.objectUser on the bucket.',
      time: undefined,
      op: 'get',
      method: 'GET',
      path: '/keys/logged/k',
      status: 403,
      code: 'permission_denied',
      object: 'gs://backend-faults/logged/k',
      gcs_status: 403,
      gcs_reason: 'forbidden',
      attempts: 1,
      ms: undefined,
    });
  });

  it('GCS failing through every retry: WARNING with the attempts', async () => {
    proxy.inject(isGet, { kind: 'status', status: 503 }, 3);
    const lines = await logDuring(() => request(sock, '/keys/logged/k'));
    proxy.clear();
    const [line] = lines;
    assert.ok(line !== undefined && lines.length === 1, JSON.stringify(lines));
    assert.equal(line.severity, 'WARNING');
    assert.equal(line.status, 503);
    assert.equal(line.gcs_status, 503);
    assert.equal(line.gcs_reason, 'backendError');
    assert.equal(line.attempts, 3);
    assert.equal(line.object, 'gs://backend-faults/logged/k');
  });

  it('GCS not answering: WARNING 504 naming the object, "no answer" from GCS', async () => {
    proxy.inject(isGet, { kind: 'stall' }, 10);
    const lines = await logDuring(() => request(sock, '/keys/logged/k'));
    proxy.clear();
    const line = lines.find((record) => record.status === 504);
    assert.ok(line !== undefined, JSON.stringify(lines));
    assert.equal(line.severity, 'WARNING');
    assert.equal(line.gcs_status, 'no answer');
    assert.equal(line.object, 'gs://backend-faults/logged/k');
    assert.match(String(line.message), /get answered 504 timeout/);
  });

  it('what the caller caused (a missing key, a bad key, a conflict) writes nothing', async () => {
    const lines = await logDuring(async () => {
      await request(sock, '/keys/logged/missing');
      await request(sock, '/keys/a//b');
      await request(sock, '/keys/logged/k', { method: 'PUT', body: 'x', headers: { 'if-none-match': '*' } });
    });
    assert.deepEqual(lines, []);
  });
});

describe('the CLI during an outage', () => {
  it('stat says why (a HEAD answer has no body): the connector\'s message, exit 7', async () => {
    proxy.inject(isGet, { kind: 'status', status: 503 }, 6);
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts'), '--socket', sock, 'stat', 'outage/never-read'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
      child.once('exit', (code) => { resolve({ code, stderr }); });
    });
    proxy.clear();
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stderr, /GCS answered HTTP 503 for gs:\/\/backend-faults\/outage\/never-read/);
  });
});

describe('GCS answers mapped to the error table', () => {
  it('401/403 from GCS is 403 permission_denied, not retried', async () => {
    await putDirect(emulator, bucket, 'perm/k', 'x');
    for (const status of [401, 403]) {
      const retries = await metricValue(sock, 'asya_state_gcs_retries_total');
      proxy.inject(isGet, { kind: 'status', status });
      const res = await request(sock, '/keys/perm/k');
      assert.equal(res.status, 403, String(status));
      assert.equal(res.json().error, 'permission_denied');
      assert.equal(await metricValue(sock, 'asya_state_gcs_retries_total'), retries);
    }
  });

  it('429 and 5xx are retried, and a later success is answered', async () => {
    await putDirect(emulator, bucket, 'retry/k', 'after retries');
    const before = await metricValue(sock, 'asya_state_gcs_retries_total', { op: 'read' });
    proxy.inject(isGet, { kind: 'status', status: 429 });
    proxy.inject(isGet, { kind: 'status', status: 502 });
    const res = await request(sock, '/keys/retry/k');
    assert.equal(res.status, 200);
    assert.equal(res.text(), 'after retries');
    assert.equal(await metricValue(sock, 'asya_state_gcs_retries_total', { op: 'read' }), before + 2);
  });

  it('5xx until the attempts run out is 503 unavailable', async () => {
    proxy.inject(isGet, { kind: 'status', status: 503 }, 3);
    const res = await request(sock, '/keys/retry/k');
    assert.equal(res.status, 503);
    assert.equal(res.json().error, 'unavailable');
    proxy.clear();
  });

  it('a stalled GCS is 504 timeout at the deadline', async () => {
    proxy.inject(isGet, { kind: 'stall' }, 10);
    const started = Date.now();
    const res = await request(sock, '/keys/retry/k');
    const elapsed = Date.now() - started;
    proxy.clear();
    assert.equal(res.status, 504);
    assert.equal(res.json().error, 'timeout');
    recordFigures('stalled backend', { answered: res.status, elapsed_ms: elapsed, gcs_timeout_ms: TIMEOUT_MS });
    assert.ok(elapsed >= TIMEOUT_MS, 'not before the deadline');
  });

  it('a 412 on a conditional DELETE is 409 conflict (shown with an injected 412: the emulator ignores the condition)', async () => {
    await putDirect(emulator, bucket, 'del/k', 'x');
    proxy.inject((req) => req.method === 'DELETE', { kind: 'status', status: 412 });
    const res = await request(sock, '/keys/del/k', { method: 'DELETE', headers: { 'if-match': '"12345"' } });
    assert.equal(res.status, 409);
    assert.equal(res.json().error, 'conflict');
    assert.notEqual(await getDirect(emulator, bucket, 'del/k'), undefined);
  });

  it('a bucket-missing 404 on an object request is 503 unavailable, not 404', async () => {
    // The emulator says only "Not Found" for both; real GCS names the bucket. A stub
    // answering with GCS's wording shows the mapping.
    const bucketGone = await startFaultProxyAnswering404Bucket();
    try {
      const res = await request(bucketGone.socketPath, '/keys/anything');
      assert.equal(res.status, 503);
      assert.match(String(res.json().message), /does not exist/);
    } finally {
      await bucketGone.stop();
    }
  });
});

/** A connector whose GCS answers object reads as real GCS does when the bucket was deleted. */
async function startFaultProxyAnswering404Bucket(): Promise<Connector> {
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    const body = req.url?.includes('/o?') === true
      ? JSON.stringify({ kind: 'storage#objects' })
      : JSON.stringify({ error: { code: 404, message: 'The specified bucket does not exist.' } });
    res.writeHead(req.url?.includes('/o?') === true ? 200 : 404, { 'content-type': 'application/json' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const gone = await startConnector({ emulatorOrigin: `http://127.0.0.1:${port}`, bucket, variant: 'lww' });
  return { ...gone, stop: async () => { const code = await gone.stop(); server.close(); return code; } };
}

describe('the emulator going away and coming back', () => {
  it('requests answer 503 while it is down, /readyz turns 503, and both recover without a restart', async () => {
    await emulator.stop();
    const started = Date.now();
    const down = await request(sock, '/keys/anything');
    const downMs = Date.now() - started;
    assert.ok(down.status === 503 || down.status === 504, `answered ${down.status}`);
    assert.ok(['unavailable', 'timeout'].includes(String(down.json().error)));
    const readyDown = await request(sock, '/readyz');
    assert.equal(readyDown.status, 503);
    assert.equal(readyDown.json().error, 'unavailable');
    assert.equal((await request(sock, '/healthz')).status, 200, 'the process itself keeps serving');

    await emulator.restart();
    await emulator.createBucket(bucket);
    assert.equal((await request(sock, '/keys/back/k', { method: 'PUT', body: 'back' })).status, 204);
    assert.equal((await request(sock, '/keys/back/k')).text(), 'back');
    assert.equal((await request(sock, '/readyz')).status, 200);
    recordFigures('emulator killed and restarted', {
      answer_while_down: down.status, answer_ms: downMs, readyz_while_down: readyDown.status, recovered_without_restart: true,
    });
  });
});
