/**
 * /metrics counts exactly what happened: after a scripted set of requests, every series
 * moved by exactly what those requests cause. And the ops port: health and metrics over
 * TCP for kubelet probes and Prometheus, nothing else.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ENTRY_BYTES } from '../../src/variants/generation-memory.ts';
import { startConnector, type Connector } from '../helpers/connector.ts';
import { freePort, startEmulator, type Emulator } from '../helpers/emulator.ts';
import { request } from '../helpers/socket-http.ts';

const MIB = 1024 * 1024;
let emulator: Emulator;
let connector: Connector;
let opsPort: number;

before(async () => {
  emulator = await startEmulator();
  await emulator.createBucket('metrics-exact');
  opsPort = await freePort();
  connector = await startConnector({ emulatorOrigin: emulator.origin, bucket: 'metrics-exact', variant: 'cas', env: { CONNECTOR_OPS_PORT: String(opsPort), CONNECTOR_MEMORY_BUDGET: '32Mi' }, settings: { uploadChunkBytes: 4 * 1024 * 1024 } });
});
after(async () => {
  await connector.stop();
  await emulator.stop();
});

/** Every sample of the exposition, by its full series name (`name{labels}`). */
async function scrape(): Promise<Map<string, number>> {
  const samples = new Map<string, number>();
  for (const line of (await request(connector.socketPath, '/metrics')).text().split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    samples.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return samples;
}

describe('metrics', () => {
  it('after a scripted set of requests, the counters moved by exactly those requests', async () => {
    const before = await scrape();
    const sock = connector.socketPath;
    const small = Buffer.alloc(1024, 1);
    const large = Buffer.alloc(5 * MIB, 2);
    assert.equal((await request(sock, '/keys/m/a', { method: 'PUT', body: small })).status, 204);
    assert.equal((await request(sock, '/keys/m/big', { method: 'PUT', body: large })).status, 204);
    assert.equal((await request(sock, '/keys/m/a', { method: 'PUT', body: 'x', headers: { 'if-none-match': '*' } })).status, 409);
    assert.equal((await request(sock, '/keys/m/a')).status, 200);
    assert.equal((await request(sock, '/keys/m/missing')).status, 404);
    assert.equal((await request(sock, '/keys/m/a', { method: 'HEAD' })).status, 204);
    assert.equal((await request(sock, '/keys/?prefix=m/')).status, 200);
    assert.equal((await request(sock, '/keys/m/a', { method: 'DELETE' })).status, 204);
    assert.equal((await request(sock, '/keys/m/a', { method: 'DELETE' })).status, 404);
    assert.equal((await request(sock, '/keys/m//bad')).status, 400);
    const after = await scrape();

    const expected: Record<string, number> = {
      'asya_state_requests_total{op="put",status="204"}': 2,
      'asya_state_requests_total{op="put",status="409"}': 1,
      'asya_state_requests_total{op="get",status="200"}': 1,
      'asya_state_requests_total{op="get",status="404"}': 1,
      'asya_state_requests_total{op="get",status="400"}': 1,
      'asya_state_requests_total{op="head",status="204"}': 1,
      'asya_state_requests_total{op="list",status="200"}': 1,
      'asya_state_requests_total{op="delete",status="204"}': 1,
      'asya_state_requests_total{op="delete",status="404"}': 1,
      // The scrape that took `before` finished after it was rendered, so it shows up now.
      'asya_state_requests_total{op="metrics",status="200"}': 1,
      'asya_state_request_duration_seconds_count{op="put"}': 3,
      'asya_state_request_duration_seconds_count{op="get"}': 3,
      'asya_state_request_duration_seconds_count{op="head"}': 1,
      'asya_state_request_duration_seconds_count{op="list"}': 1,
      'asya_state_request_duration_seconds_count{op="delete"}': 2,
      'asya_state_request_duration_seconds_count{op="metrics"}': 1,
      // One GCS request per operation; the 400 never reached GCS.
      // The 5 MiB body streams in two 4 MiB chunks: the session opens (200), the first chunk
      // is taken (308), the last finalizes (200).
      'asya_state_gcs_requests_total{op="write",outcome="200"}': 3,
      'asya_state_gcs_requests_total{op="write",outcome="308"}': 1,
      'asya_state_gcs_requests_total{op="write",outcome="412"}': 1,
      'asya_state_gcs_requests_total{op="read",outcome="200"}': 1,
      'asya_state_gcs_requests_total{op="read",outcome="404"}': 1,
      'asya_state_gcs_requests_total{op="stat",outcome="200"}': 1,
      'asya_state_gcs_requests_total{op="list",outcome="200"}': 1,
      // fake-gcs-server answers a DELETE with 200 where GCS answers 204; the outcome is the status GCS gave.
      'asya_state_gcs_requests_total{op="delete",outcome="200"}': 1,
      'asya_state_gcs_requests_total{op="delete",outcome="404"}': 1,
      // The same requests in the latency histogram, by outcome class.
      'asya_state_gcs_request_duration_seconds_count{op="write",outcome="2xx"}': 3,
      'asya_state_gcs_request_duration_seconds_count{op="write",outcome="3xx"}': 1,
      'asya_state_gcs_request_duration_seconds_count{op="write",outcome="4xx"}': 1,
      'asya_state_gcs_request_duration_seconds_count{op="read",outcome="2xx"}': 1,
      'asya_state_gcs_request_duration_seconds_count{op="read",outcome="4xx"}': 1,
      'asya_state_gcs_request_duration_seconds_count{op="stat",outcome="2xx"}': 1,
      'asya_state_gcs_request_duration_seconds_count{op="list",outcome="2xx"}': 1,
      'asya_state_gcs_request_duration_seconds_count{op="delete",outcome="2xx"}': 1,
      'asya_state_gcs_request_duration_seconds_count{op="delete",outcome="4xx"}': 1,
      'asya_state_errors_total{code="conflict"}': 1,
      'asya_state_errors_total{code="key_not_found"}': 2,
      'asya_state_errors_total{code="bad_request"}': 1,
      'asya_state_conflicts_total{reason="exists"}': 1,
      asya_state_received_bytes_total: small.length + large.length + 1,
      asya_state_sent_bytes_total: small.length,
      asya_state_uploads_streamed_total: 1,
      // The CAS memory ends holding m/big (written) and m/missing (read as absent): m/a was
      // forgotten by its delete. Each entry costs the same, whatever the key's length.
      'asya_state_memory_budget_used_bytes{use="cas_memory"}': 2 * ENTRY_BYTES,
    };
    const moved = new Map<string, number>();
    for (const [series, value] of after) {
      // The process's own series move by themselves; they are checked below.
      if (series.includes('_bucket{') || series.includes('_sum{') || series === 'asya_state_requests_in_flight' || /^(process|nodejs)_/.test(series)) continue;
      const delta = value - (before.get(series) ?? 0);
      if (delta !== 0) moved.set(series, delta);
    }
    assert.deepEqual(Object.fromEntries([...moved].sort()), Object.fromEntries(Object.entries(expected).sort()));
    assert.equal(after.get('asya_state_requests_in_flight'), 1, 'only the scrape itself is in flight');
    const buildInfo = [...after].find(([series]) => series.startsWith('asya_state_build_info{'));
    assert.match(buildInfo?.[0] ?? '', /^asya_state_build_info\{node="v\d+\.\d+\.\d+",variant="cas",version="0\.1\.0"\}$/);
    assert.equal(buildInfo?.[1], 1);
    const rss = after.get('process_resident_memory_bytes') ?? 0;
    assert.ok(rss > 20 * 1024 * 1024 && rss < 1024 * 1024 * 1024, `resident memory ${rss}`);
    assert.ok((after.get('process_cpu_seconds_total') ?? 0) > 0);
    assert.ok((after.get('process_open_fds') ?? 0) > 3);
    const start = after.get('process_start_time_seconds') ?? 0;
    assert.ok(Math.abs(start - Date.now() / 1000) < 600, `start time ${start}`);
    assert.ok((after.get('nodejs_heap_used_bytes') ?? 0) > 0);
    assert.ok(after.has('nodejs_eventloop_delay_p99_seconds') && after.has('nodejs_eventloop_delay_max_seconds'));
    for (const [series, value] of after) {
      if (series.startsWith('asya_state_gcs_request_duration_seconds_count{')) {
        assert.equal(after.get(series.replace('_count{', '_bucket{').replace(/}$/, ',le="+Inf"}')), value, `${series}: the +Inf bucket holds every observation`);
      }
    }
    for (const op of ['put', 'get', 'head', 'list', 'delete']) {
      const count = after.get(`asya_state_request_duration_seconds_count{op="${op}"}`);
      assert.equal(after.get(`asya_state_request_duration_seconds_bucket{op="${op}",le="+Inf"}`), count, `${op}: the +Inf bucket holds every observation`);
    }
  });
});

describe('the ops port (CONNECTOR_OPS_PORT)', () => {
  const get = async (path: string): Promise<{ status: number; text: string }> => {
    const res = await fetch(`http://127.0.0.1:${opsPort}${path}`);
    return { status: res.status, text: await res.text() };
  };

  it('serves /healthz, /readyz and /metrics over TCP for probes and Prometheus', async () => {
    assert.deepEqual(await get('/healthz'), { status: 200, text: '{"status":"ready"}' });
    assert.equal((await get('/readyz')).status, 200);
    const metrics = await get('/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^asya_state_requests_total\{/m);
  });

  it('idle connections from elsewhere on the pod network cannot crowd out probes: the oldest idle one makes room', async () => {
    const idle = await Promise.all(Array.from({ length: 40 }, () => new Promise<Socket>((resolve) => {
      const socket = connect(opsPort, '127.0.0.1', () => { resolve(socket); });
      socket.on('error', () => undefined);
    })));
    try {
      const probes = [];
      // One at a time, as kubelet probes: each must find room at the cap of 32.
      for (let i = 0; i < 20; i++) probes.push((await get('/healthz')).status);
      assert.deepEqual(probes, Array.from({ length: 20 }, () => 200));
      assert.match((await get('/metrics')).text, /asya_state_connections_refused_total\{listener="ops",reason="idle_closed"\} [1-9]/);
    } finally {
      for (const socket of idle) socket.destroy();
    }
  });

  it('serves no state: keys and meta are 404 with a message saying where they are', async () => {
    const answer = await get('/keys/m/big');
    assert.equal(answer.status, 404);
    assert.match(answer.text, /state is on the Unix socket/);
    assert.equal((await fetch(`http://127.0.0.1:${opsPort}/keys/m/x`, { method: 'PUT', body: 'x' })).status, 404);
  });
});
