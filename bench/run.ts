/**
 * `npm run bench [-- --quick] [-- --backend memory|emulator|both]`: the connector against
 * calling GCS directly, side by side in one run, on the in-memory benchmark backend and on
 * fake-gcs-server; plus 1 GiB transfers, start-up time, idle memory, and CAS memory after
 * 100,000 keys. Writes bench/results/latest.json and docs/benchmarks.md.
 *
 * Never part of the test suite's pass/fail: it prints figures, it asserts nothing.
 */
import { cpus, tmpdir } from 'node:os';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.ts';
import { MemoryBudget } from '../src/memory-budget.ts';
import { receiveBody } from '../src/server/request-body.ts';
import { createGcsStore } from '../src/wiring/gcs-store.ts';
import { UNOBSERVED } from '../src/store/gcs/gcs-observer.ts';
import type { GcsObjectStore } from '../src/store/gcs/gcs-store.ts';
import { startConnector, type Connector } from '../test/helpers/connector.ts';
import { startEmulator } from '../test/helpers/emulator.ts';
import { productionMode, startMetadataServer } from '../test/helpers/metadata-server.ts';
import { cpuMs, memoryMiB } from '../test/helpers/proc.ts';
import { buildDist, DIST_ARGS, SRC_ARGS, TUNED_DIST_ARGS } from './dist.ts';
import { median, runLoad } from './load.ts';
import { connectorPath, directPath, floorPath, patternStream, type BenchPath, type OpName, type PathName } from './paths.ts';
import { renderBenchmarks, type Results } from './render.ts';
import { startFloorProxy } from './start-floor-proxy.ts';
import { startMemoryBackend, type MemoryBackend } from './start-memory-backend.ts';

const ROOT = join(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    backend: { type: 'string', default: 'both' },
    rounds: { type: 'string' },
    'render-only': { type: 'boolean', default: false },
  },
});
const QUICK = args.quick;
const ROUNDS = Number(args.rounds ?? (QUICK ? 1 : 3));
const KIB = 1024;
const MIB = 1024 * KIB;

export interface RunRow {
  backend: 'memory' | 'fake-gcs-server';
  path: PathName;
  op: OpName;
  size: number;
  concurrency: number;
  ops_per_s: number;
  p50_ms: number;
  p99_ms: number;
  /** CPU per operation: the connector's or the floor proxy's process (all threads), or the benchmark process's for direct. */
  cpu_us_per_op: number;
  /** (max − min) / median of ops/s over the rounds: how noisy this cell was. */
  spread: number;
}

export interface LargeRow {
  op: 'PUT' | 'GET';
  bytes: number;
  mib_per_s_direct: number;
  mib_per_s_connector: number;
  peak_rss_mib: number;
}

const log = (line: string): void => { console.log(line); };


function directStore(origin: string, bucket: string): GcsObjectStore {
  const config = loadConfig({ CONNECTOR_SOCKET: '/tmp/unused.sock', STATE_BUCKET: bucket, STORAGE_EMULATOR_HOST: origin }, 'lww');
  return createGcsStore(config, UNOBSERVED);
}

/** Writes `bytes` of the pattern straight to the store, streamed in chunks as the connector streams a large PUT. */
async function writeStreamed(store: GcsObjectStore, name: string, bytes: number): Promise<void> {
  const received = await receiveBody(patternStream(bytes), {
    chunkBytes: 8 * MIB, maxBytes: bytes, declaredLength: bytes, budget: new MemoryBudget(64 * MIB), admissionTimeoutMs: 1_000,
  });
  try {
    await store.write(name, received.upload, { contentType: 'application/octet-stream' });
  } finally {
    received.release();
  }
}

interface Counts { readonly small: number; readonly medium: number; readonly large: number; readonly list: number }

function countsFor(backend: RunRow['backend']): Counts {
  if (backend === 'memory') return QUICK ? { small: 300, medium: 150, large: 30, list: 100 } : { small: 4000, medium: 1500, large: 300, list: 1000 };
  return QUICK ? { small: 80, medium: 40, large: 15, list: 30 } : { small: 600, medium: 300, large: 100, list: 200 };
}

async function seed(store: GcsObjectStore, keys: readonly string[], body: Buffer): Promise<void> {
  const path = directPath(store);
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    for (let i = next++; i < keys.length; i = next++) await path.put(keys[i] ?? '', body);
  }));
}

async function benchmarkBackend(backend: RunRow['backend'], origin: string, bucket: string): Promise<RunRow[]> {
  const counts = countsFor(backend);
  const store = directStore(origin, bucket);
  const connector = await startConnector({ emulatorOrigin: origin, bucket, variant: 'lww', args: DIST_ARGS });
  const pid = connector.process.pid ?? 0;
  const floor = await startFloorProxy(origin, bucket, join(mkdtempSync(join(tmpdir(), 'asya-bench-floor-')), 'floor.sock'));
  const floorPid = floor.process.pid ?? 0;
  const POOL = 64;
  const sizes = [KIB, 64 * KIB, MIB];
  log(`\n[${backend}] seeding`);
  for (const size of sizes) await seed(store, Array.from({ length: POOL }, (_, i) => `get/${size}/${i}`), Buffer.alloc(size, 7));
  await seed(store, Array.from({ length: 100 }, (_, i) => `list/k${String(i).padStart(3, '0')}`), Buffer.from('x'));

  interface Cell { op: OpName; size: number; ops: number }
  const cells: Cell[] = [
    ...sizes.flatMap((size) => {
      const ops = size === KIB ? counts.small : size === MIB ? counts.large : counts.medium;
      return [{ op: 'GET' as const, size, ops }, { op: 'PUT' as const, size, ops }];
    }),
    { op: 'HEAD', size: 0, ops: counts.small },
    { op: 'DELETE', size: 0, ops: counts.small },
    { op: 'LIST', size: 100, ops: counts.list },
  ];
  const samples = new Map<string, Array<{ opsPerSecond: number; p50Ms: number; p99Ms: number; cpuUsPerOp: number }>>();
  let deleteRound = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    for (const concurrency of [1, 16]) {
      for (const cell of cells) {
        const paths: BenchPath[] = [
          directPath(store),
          // The floor passes GET, PUT, HEAD and DELETE through; a listing it does not parse.
          ...(cell.op === 'LIST' ? [] : [floorPath(floor.socketPath, concurrency)]),
          connectorPath(connector.socketPath, true, concurrency),
          connectorPath(connector.socketPath, false, concurrency),
        ];
        for (const path of paths) {
          const body = Buffer.alloc(cell.size, 1);
          const deletePrefix = `del/${deleteRound++}/`;
          if (cell.op === 'DELETE') await seed(store, Array.from({ length: cell.ops }, (_, i) => `${deletePrefix}${i}`), Buffer.from('d'));
          const operation = (i: number): Promise<void> => {
            switch (cell.op) {
              case 'GET': return path.get(`get/${cell.size}/${i % POOL}`);
              case 'PUT': return path.put(`put/${cell.size}/${i % POOL}`, body);
              case 'HEAD': return path.head(`get/${KIB}/${i % POOL}`);
              case 'DELETE': return path.remove(`${deletePrefix}${i}`);
              case 'LIST': return path.list('list/');
            }
          };
          if (cell.op !== 'DELETE') await runLoad(operation, Math.min(100, cell.ops), concurrency);
          const cpuBefore = path.name === 'direct' ? process.cpuUsage() : undefined;
          const proxyPid = path.name === 'floor' ? floorPid : pid;
          const proxyBefore = cpuMs(proxyPid);
          const result = await runLoad(operation, cell.ops, concurrency);
          const cpu = cpuBefore === undefined
            ? cpuMs(proxyPid) - proxyBefore
            : (() => { const used = process.cpuUsage(cpuBefore); return (used.user + used.system) / 1000; })();
          path.close();
          const key = `${path.name}|${cell.op}|${cell.size}|${concurrency}`;
          const list = samples.get(key) ?? [];
          list.push({ opsPerSecond: result.opsPerSecond, p50Ms: result.p50Ms, p99Ms: result.p99Ms, cpuUsPerOp: (cpu / cell.ops) * 1000 });
          samples.set(key, list);
          log(`[${backend}] round ${round} c${concurrency} ${cell.op} ${cell.size} ${path.name}: ${result.opsPerSecond.toFixed(0)} ops/s, p50 ${result.p50Ms.toFixed(3)} ms, p99 ${result.p99Ms.toFixed(3)} ms, cpu ${((cpu / cell.ops) * 1000).toFixed(0)} µs/op`);
        }
      }
    }
  }
  await connector.stop();
  floor.stop();
  await store.close();
  return [...samples.entries()].map(([key, list]) => {
    const [path, op, size, concurrency] = key.split('|') as [PathName, OpName, string, string];
    const rates = list.map((s) => s.opsPerSecond);
    const mid = median(rates);
    return {
      backend, path, op, size: Number(size), concurrency: Number(concurrency),
      ops_per_s: round1(mid),
      p50_ms: round3(median(list.map((s) => s.p50Ms))),
      p99_ms: round3(median(list.map((s) => s.p99Ms))),
      cpu_us_per_op: round1(median(list.map((s) => s.cpuUsPerOp))),
      spread: round3((Math.max(...rates) - Math.min(...rates)) / mid),
    };
  });
}

/** 1 GiB up and down, directly and through a fresh connector each (its peak RSS is that transfer's). */
async function largeTransfers(origin: string, bucket: string): Promise<LargeRow[]> {
  const bytes = QUICK ? 128 * MIB : 1024 * MIB;
  const store = directStore(origin, bucket);
  log(`\n[large] ${bytes / MIB} MiB PUT and GET`);
  const timed = async (work: () => Promise<void>): Promise<number> => {
    const started = performance.now();
    await work();
    return (bytes / MIB) / ((performance.now() - started) / 1000);
  };
  const directPut = await timed(() => writeStreamed(store, 'large/direct', bytes));
  const directGet = await timed(async () => { for await (const _chunk of (await store.read('large/direct')).body) { /* consumed */ } });

  const throughConnector = async (op: 'PUT' | 'GET'): Promise<{ rate: number; peak: number }> => {
    const connector = await startConnector({ emulatorOrigin: origin, bucket, variant: 'cas', args: DIST_ARGS });
    try {
      const rate = await timed(() => new Promise<void>((resolve, reject) => {
        const req = request({ socketPath: connector.socketPath, path: '/keys/large/connector', method: op, headers: op === 'PUT' ? { 'content-length': bytes } : {} }, (res) => {
          res.on('end', () => { if ((res.statusCode ?? 0) < 300) resolve(); else reject(new Error(`${op}: HTTP ${res.statusCode}`)); });
          res.on('error', reject);
          res.resume();
        });
        req.on('error', reject);
        if (op === 'PUT') patternStream(bytes).pipe(req);
        else req.end();
      }));
      return { rate, peak: connector.peakRssMiB() };
    } finally {
      await connector.stop();
    }
  };
  const put = await throughConnector('PUT');
  const get = await throughConnector('GET');
  await store.close();
  log(`[large] PUT direct ${directPut.toFixed(0)} MiB/s, connector ${put.rate.toFixed(0)} MiB/s, peak RSS ${put.peak} MiB; GET direct ${directGet.toFixed(0)} MiB/s, connector ${get.rate.toFixed(0)} MiB/s, peak RSS ${get.peak} MiB`);
  return [
    { op: 'PUT', bytes, mib_per_s_direct: round1(directPut), mib_per_s_connector: round1(put.rate), peak_rss_mib: put.peak },
    { op: 'GET', bytes, mib_per_s_direct: round1(directGet), mib_per_s_connector: round1(get.rate), peak_rss_mib: get.peak },
  ];
}

export interface ReadCacheRow {
  cache: boolean;
  reads: number;
  bytes: number;
  backend_bytes: number;
  seconds: number;
  peak_rss_mib: number;
}

/** Re-reading one large object through the connector, without and with the read cache. */
async function readCacheRuns(backend: MemoryBackend, bucket: string): Promise<ReadCacheRow[]> {
  const bytes = QUICK ? 32 * MIB : 256 * MIB;
  const reads = QUICK ? 5 : 20;
  const store = directStore(backend.origin, bucket);
  log(`\n[read cache] ${reads} reads of one ${bytes / MIB} MiB object`);
  await writeStreamed(store, 'cache/weights.bin', bytes);
  await store.close();
  const rows: ReadCacheRow[] = [];
  for (const cache of [false, true]) {
    const env: Record<string, string> = cache ? { CONNECTOR_CACHE: `${mkdtempSync(join(tmpdir(), 'asya-bench-cache-'))}:1Gi` } : {};
    const connector = await startConnector({ emulatorOrigin: backend.origin, bucket, variant: 'cas', args: DIST_ARGS, env });
    const path = connectorPath(connector.socketPath, true, 1);
    const before = await backend.stats();
    const started = performance.now();
    for (let i = 0; i < reads; i++) await path.get('cache/weights.bin');
    const seconds = (performance.now() - started) / 1000;
    const after = await backend.stats();
    path.close();
    const row = { cache, reads, bytes, backend_bytes: after.media_bytes_sent - before.media_bytes_sent, seconds: round3(seconds), peak_rss_mib: connector.peakRssMiB() };
    await connector.stop();
    log(`[read cache] cache ${cache ? 'on ' : 'off'}: ${(row.backend_bytes / MIB).toFixed(0)} MiB from the backend, ${seconds.toFixed(2)} s, peak RSS ${row.peak_rss_mib} MiB`);
    rows.push(row);
  }
  return rows;
}

/** A process's resident memory now, whole and in its two parts, in MiB. */
function residentMiB(pid: number): { rss: number; anon: number; file: number } {
  return { rss: memoryMiB(pid, 'VmRSS'), anon: memoryMiB(pid, 'RssAnon'), file: memoryMiB(pid, 'RssFile') };
}

/** Milliseconds from spawning the connector to /readyz answering 200, and its idle memory. */
async function startupAndIdle(origin: string, bucket: string, nodeArgs: readonly string[]): Promise<{ readyMs: number; idleRss: number; idleAnon: number; idleFile: number }> {
  const readies: number[] = [];
  let idle = { rss: 0, anon: 0, file: 0 };
  for (let run = 0; run < (QUICK ? 3 : 7); run++) {
    const socketPath = join(ROOT, 'run', `bench-ready-${run}.sock`);
    const started = performance.now();
    const connectorPromise = startConnector({ emulatorOrigin: origin, bucket, variant: 'cas', socketPath, args: nodeArgs });
    let ready = Number.NaN;
    while (Number.isNaN(ready)) {
      const status = await new Promise<number>((resolve) => {
        const req = request({ socketPath, path: '/readyz' }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
        req.on('error', () => { resolve(0); });
        req.end();
      });
      if (status === 200) ready = performance.now() - started;
      else await sleep(2);
    }
    const connector: Connector = await connectorPromise;
    readies.push(ready);
    if (run === 0) {
      await sleep(2000);
      const pid = connector.process.pid ?? 0;
      idle = residentMiB(pid);
    }
    await connector.stop();
  }
  return { readyMs: round1(median(readies)), idleRss: idle.rss, idleAnon: idle.anon, idleFile: idle.file };
}

/** How long a connector is left without requests before its settled idle memory is read. */
const SETTLE_MS = 30_000;

/**
 * Idle memory in production mode: credentials from a metadata-server stand-in, the GCS
 * API at the emulator as if it were storage.googleapis.com, measured 2 s after a few requests as a pod's connector
 * is, and again once V8's memory reducer has run (it shrinks the heap after some 10–20 s
 * without allocation), which is what a pod between bursts holds.
 */
async function productionIdle(origin: string, bucket: string): Promise<{ rss: number; anon: number; file: number; settledRss: number }> {
  const metadata = await startMetadataServer();
  const connector = await startConnector({ emulatorOrigin: '', bucket, variant: 'cas', args: TUNED_DIST_ARGS, ...productionMode(origin, metadata) });
  try {
    const path = connectorPath(connector.socketPath, true, 1);
    const body = Buffer.alloc(1024, 1);
    for (let i = 0; i < 20; i++) {
      await path.put(`idle/${i}`, body);
      await path.get(`idle/${i}`);
    }
    path.close();
    await sleep(2000);
    const pid = connector.process.pid ?? 0;
    const afterRequests = residentMiB(pid);
    await sleep(SETTLE_MS);
    return { ...afterRequests, settledRss: residentMiB(pid).rss };
  } finally {
    await connector.stop();
    metadata.close();
  }
}

/** RSS of a CAS connector after reading `keys` distinct keys (each remembered). */
async function casMemory(origin: string, bucket: string): Promise<{ keys: number; before: number; after: number }> {
  const keys = QUICK ? 10_000 : 100_000;
  log(`\n[cas] seeding ${keys} keys`);
  const store = directStore(origin, bucket);
  await seed(store, Array.from({ length: keys }, (_, i) => `cas/${String(i).padStart(40, '0')}`), Buffer.from('{"count":1}'));
  await store.close();
  const connector = await startConnector({ emulatorOrigin: origin, bucket, variant: 'cas', args: DIST_ARGS });
  const pid = connector.process.pid ?? 0;
  await sleep(1000);
  const before = memoryMiB(pid, 'VmRSS');
  const path = connectorPath(connector.socketPath, true, 16);
  await runLoad((i) => path.get(`cas/${String(i).padStart(40, '0')}`), keys, 16);
  path.close();
  await sleep(1000);
  const after = memoryMiB(pid, 'VmRSS');
  await connector.stop();
  log(`[cas] RSS ${before} MiB before, ${after} MiB after reading ${keys} keys`);
  return { keys, before, after };
}

function round1(value: number): number { return Math.round(value * 10) / 10; }
function round3(value: number): number { return Math.round(value * 1000) / 1000; }

if (args['render-only']) {
  // Re-renders docs/benchmarks.md from the last full run (after editing bench/notes.md).
  const results = JSON.parse(readFileSync(join(import.meta.dirname, 'results', 'latest.json'), 'utf8')) as Results;
  writeFileSync(join(ROOT, 'docs', 'benchmarks.md'), renderBenchmarks(results));
  log('rendered docs/benchmarks.md from bench/results/latest.json');
  process.exit(0);
}

buildDist();
const runs: RunRow[] = [];
const memory = await startMemoryBackend();
const emulator = args.backend === 'memory' ? undefined : await startEmulator();
try {
  if (args.backend !== 'emulator') runs.push(...await benchmarkBackend('memory', memory.origin, 'bench'));
  if (emulator !== undefined) {
    await emulator.createBucket('bench');
    runs.push(...await benchmarkBackend('fake-gcs-server', emulator.origin, 'bench'));
  }
  const large = await largeTransfers(memory.origin, 'bench');
  const dist = await startupAndIdle(memory.origin, 'bench', DIST_ARGS);
  const src = await startupAndIdle(memory.origin, 'bench', SRC_ARGS);
  log(`\n[start] ready ${dist.readyMs} ms, idle RSS ${dist.idleRss} MiB (anon ${dist.idleAnon}, file ${dist.idleFile}); from src/main.ts: ready ${src.readyMs} ms, idle ${src.idleRss} MiB`);
  const production = await productionIdle(memory.origin, 'bench');
  log(`[idle, production mode] RSS ${production.rss} MiB (anon ${production.anon}, file ${production.file}); after ${SETTLE_MS / 1000} s more without requests: ${production.settledRss} MiB`);
  const cas = await casMemory(memory.origin, 'bench');
  const readCache = await readCacheRuns(memory, 'bench');
  const results = {
    node: process.version,
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model ?? 'unknown',
    date: new Date().toISOString(),
    quick: QUICK,
    rounds: ROUNDS,
    command: `npm run bench${QUICK ? ' -- --quick' : ''}`,
    runs,
    large,
    ready_ms: dist.readyMs,
    idle_rss_mib: dist.idleRss,
    idle_rss_anon_mib: dist.idleAnon,
    idle_rss_file_mib: dist.idleFile,
    idle_rss_production_mib: production.rss,
    idle_rss_production_anon_mib: production.anon,
    idle_rss_production_file_mib: production.file,
    idle_rss_production_settled_mib: production.settledRss,
    ready_ms_src: src.readyMs,
    idle_rss_mib_src: src.idleRss,
    cas_keys_read: cas.keys,
    cas_rss_before_mib: cas.before,
    cas_100k_keys_rss_mib: cas.after,
    read_cache: readCache,
  };
  const outFile = join(import.meta.dirname, 'results', QUICK ? 'quick.json' : 'latest.json');
  writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);
  if (!QUICK) writeFileSync(join(ROOT, 'docs', 'benchmarks.md'), renderBenchmarks(results));
  log(`\nwrote ${outFile}${QUICK ? '' : ' and docs/benchmarks.md'}`);
} finally {
  memory.stop();
  await emulator?.stop();
}
