/**
 * Large objects against a backend shaped like GCS (a bandwidth limit per stream and a
 * first-byte latency, bench/memory-backend.ts), measured side by side in one run:
 *
 * - PUT: the connector streaming the body into a resumable upload while it arrives,
 *   against the path before it (the body spooled to a local file, then sent in one resumable PUT),
 *   reconstructed here with the same backend;
 * - GET: the connector reading in parallel ranges, against the same connector reading one
 *   stream (the fixed setting `readStreams` at 0, through bench/tuned-connector.mjs).
 *
 * The connector runs as its image does (dist/, the image's V8 flags). Writes
 * bench/results/large-objects.json and docs/benchmarks-large.md.
 *
 *   npm run bench:large [-- --quick] [-- --stream-mibps 95.37 --first-byte-ms 20]
 */
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { startConnector, type Connector } from '../test/helpers/connector.ts';
import { cpuMs } from '../test/helpers/proc.ts';
import type { Config } from '../src/config.ts';
import { buildDist, DIST_ARGS, TUNED_DIST_ARGS } from './dist.ts';
import { pacedPatternStream, patternStream } from './paths.ts';
import { startMemoryBackend, type MemoryBackend } from './start-memory-backend.ts';

const ROOT = join(import.meta.dirname, '..');
const MIB = 1024 * 1024;
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    // 100 MB/s, what the issue names as one GCS stream.
    'stream-mibps': { type: 'string', default: String(100e6 / MIB) },
    'first-byte-ms': { type: 'string', default: '20' },
  },
});
const QUICK = args.quick;
const BYTES = QUICK ? 256 * MIB : 1024 * MIB;
const SHAPE = { streamMibps: Number(args['stream-mibps']), firstByteMs: Number(args['first-byte-ms']) };
const BUCKET = 'bench';
/** The one-stream reference of the GET rows. */
const ONE_STREAM: Partial<Config> = { readStreams: 0 };

/** CPU seconds each process spent during a timed transfer, and the cores they kept busy between them. */
interface CpuFigures { backend: number; connector: number; client: number; cores_used: number }
interface GetFigures { seconds: number; first_byte_ms: number; mib_per_s: number; peak_rss_mib: number; cpu: CpuFigures }
interface PutFigures { seconds: number; local_disk_bytes: number; peak_rss_mib: number }
interface StagedFigures { seconds: number; receive_seconds: number; local_disk_bytes: number }

interface LargeResults {
  node: string;
  cpus: number;
  date: string;
  command: string;
  bytes: number;
  backend: { stream_mib_per_s: number; first_byte_ms: number };
  put_streamed: PutFigures;
  put_staged: StagedFigures;
  put_time_ratio: number;
  /** The same PUTs with the client sending at one stream's rate, as a pod receiving over the network. */
  put_paced: { client_mib_per_s: number; streamed: PutFigures; staged: StagedFigures; time_ratio: number };
  get_single_stream: GetFigures;
  get_ranged: GetFigures;
  get_throughput_ratio: number;
  /** The same GETs of a smaller object with slower streams, where this machine is not the limit. */
  slow_streams: { bytes: number; stream_mib_per_s: number; single: GetFigures; ranged: GetFigures; throughput_ratio: number };
}

const log = (line: string): void => { console.log(line); };
const seconds = (from: number): number => Math.round((performance.now() - from) / 10) / 100;
const round1 = (value: number): number => Math.round(value * 10) / 10;
const round2 = (value: number): number => Math.round(value * 100) / 100;

/** Bytes a process has caused to be written to storage (/proc/<pid>/io `write_bytes`). */
function diskWrites(pid: number): number {
  return Number(/^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? Number.NaN);
}

/** Runs `run` against the compiled connector, with `settings` changed when given. */
async function withConnector<T>(backend: MemoryBackend, settings: Partial<Config> | undefined, run: (connector: Connector) => Promise<T>): Promise<T & { peak_rss_mib: number }> {
  const connector = await startConnector({
    emulatorOrigin: backend.origin, bucket: BUCKET, variant: 'cas', ...(settings === undefined ? { args: DIST_ARGS } : { args: TUNED_DIST_ARGS, settings }),
  });
  try {
    const result = await run(connector);
    return { ...result, peak_rss_mib: connector.peakRssMiB() };
  } finally {
    await connector.stop();
  }
}

/** The client's body: the pattern as fast as it can, or at `mibps`. */
const clientBody = (bytes: number, mibps: number | undefined): Readable => (mibps === undefined ? patternStream(bytes) : pacedPatternStream(bytes, mibps));

/** PUTs `bytes` of the pattern through a connector. */
function putThrough(connector: Connector, bytes: number, mibps?: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const req = request({ socketPath: connector.socketPath, path: '/keys/large/streamed', method: 'PUT', headers: { 'content-length': bytes } }, (res) => {
      res.resume();
      res.on('end', () => { if (res.statusCode === 204) resolve(); else reject(new Error(`PUT: HTTP ${res.statusCode}`)); });
    });
    req.on('error', reject);
    clientBody(bytes, mibps).pipe(req);
  });
}

/** PUT through the connector: wall time, and what it wrote to local disk. */
async function streamedPut(backend: MemoryBackend, mibps?: number): Promise<PutFigures> {
  return withConnector(backend, undefined, async (connector) => {
    const pid = connector.process.pid ?? 0;
    const writtenBefore = diskWrites(pid);
    const started = performance.now();
    await putThrough(connector, BYTES, mibps);
    return { seconds: seconds(started), local_disk_bytes: diskWrites(pid) - writtenBefore };
  });
}

/** The path before streaming: the whole body to a local file first, then one resumable PUT of it. */
async function stagedPut(backend: MemoryBackend, mibps?: number): Promise<StagedFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'asya-bench-staged-'));
  const file = join(dir, 'body');
  try {
    const started = performance.now();
    await pipeline(clientBody(BYTES, mibps), createWriteStream(file));
    const receiveSeconds = seconds(started);
    const opened = await fetch(`${backend.origin}/upload/storage/v1/b/${BUCKET}/o?uploadType=resumable`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'large/staged' }),
    });
    await opened.arrayBuffer();
    const session = new URL(opened.headers.get('location') ?? '');
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: session.hostname, port: session.port, path: `${session.pathname}${session.search}`, method: 'PUT', headers: { 'content-length': BYTES, 'content-range': `bytes 0-${BYTES - 1}/${BYTES}` } }, (res) => {
        res.resume();
        res.on('end', () => { if (res.statusCode === 200) resolve(); else reject(new Error(`staged PUT: HTTP ${res.statusCode}`)); });
      });
      req.on('error', reject);
      createReadStream(file).pipe(req);
    });
    // The backend keeps what it holds on its heap: a second GiB would slow its collections, and every measurement after this one.
    await (await fetch(`${backend.origin}/storage/v1/b/${BUCKET}/o/large%2Fstaged`, { method: 'DELETE' })).arrayBuffer();
    return { seconds: seconds(started), receive_seconds: receiveSeconds, local_disk_bytes: statSync(file).size };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Milliseconds to the first body byte of one GET, which is then dropped. */
function firstByteMs(connector: Connector): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request({ socketPath: connector.socketPath, path: '/keys/large/streamed' }, (res) => {
      res.once('data', () => {
        resolve(performance.now() - started);
        req.destroy();
      });
    });
    req.on('error', () => undefined);
    req.on('close', () => { reject(new Error('GET closed before its first byte')); });
    req.end();
  });
}

const FIRST_BYTE_SAMPLES = 11;

/**
 * Time to the first byte of one stream and of a ranged GET, as the medians of GETs
 * dropped after their first byte, taken in turns from two connectors running side by
 * side, so that both see the same machine at the same moments.
 */
async function firstBytes(backend: MemoryBackend): Promise<{ single: number; ranged: number }> {
  return withConnector(backend, ONE_STREAM, (single) => withConnector(backend, undefined, async (ranged) => {
    const samples = { single: [] as number[], ranged: [] as number[] };
    for (let i = 0; i < FIRST_BYTE_SAMPLES; i++) {
      samples.single.push(await firstByteMs(single));
      samples.ranged.push(await firstByteMs(ranged));
    }
    const median = (values: number[]): number => Math.round(values.sort((a, b) => a - b)[values.length >> 1] ?? 0);
    return { single: median(samples.single), ranged: median(samples.ranged) };
  }));
}

/** GET through the connector: one whole transfer (the first byte is measured by firstBytes). */
async function get(backend: MemoryBackend, settings: Partial<Config> | undefined, firstByte: number, bytes = BYTES): Promise<GetFigures> {
  return withConnector(backend, settings, async (connector) => {
    const pids = { backend: backend.process.pid ?? 0, connector: connector.process.pid ?? 0 };
    const cpuBefore = { backend: cpuMs(pids.backend), connector: cpuMs(pids.connector), client: process.cpuUsage() };
    const started = performance.now();
    let received = 0;
    await new Promise<void>((resolve, reject) => {
      request({ socketPath: connector.socketPath, path: '/keys/large/streamed' }, (res) => {
        res.on('data', (chunk: Buffer) => { received += chunk.length; });
        res.on('end', () => { if (received === bytes) resolve(); else reject(new Error(`GET: ${received} of ${bytes} bytes`)); });
        res.on('error', reject);
      }).on('error', reject).end();
    });
    const taken = seconds(started);
    const clientCpu = process.cpuUsage(cpuBefore.client);
    const cpu = {
      backend: round2((cpuMs(pids.backend) - cpuBefore.backend) / 1000),
      connector: round2((cpuMs(pids.connector) - cpuBefore.connector) / 1000),
      client: round2((clientCpu.user + clientCpu.system) / 1e6),
    };
    return { seconds: taken, first_byte_ms: firstByte, mib_per_s: round1(bytes / MIB / taken), cpu: { ...cpu, cores_used: round2((cpu.backend + cpu.connector + cpu.client) / taken) } };
  });
}

buildDist();
const backend = await startMemoryBackend(SHAPE);
try {
  log(`[large objects] ${BYTES / MIB} MiB, backend: ${round1(SHAPE.streamMibps)} MiB/s per stream, ${SHAPE.firstByteMs} ms to the first byte`);
  const streamed = await streamedPut(backend);
  log(`PUT streamed: ${streamed.seconds} s, local disk ${streamed.local_disk_bytes} bytes, peak RSS ${streamed.peak_rss_mib} MiB`);
  const staged = await stagedPut(backend);
  log(`PUT staged (spool, then one resumable PUT): ${staged.seconds} s (receiving ${staged.receive_seconds} s), local disk ${staged.local_disk_bytes} bytes`);
  const pacedStreamed = await streamedPut(backend, SHAPE.streamMibps);
  const pacedStaged = await stagedPut(backend, SHAPE.streamMibps);
  log(`PUT with the client at ${round1(SHAPE.streamMibps)} MiB/s: streamed ${pacedStreamed.seconds} s, staged ${pacedStaged.seconds} s`);
  const firstByte = await firstBytes(backend);
  const single = await get(backend, ONE_STREAM, firstByte.single);
  log(`GET one stream: ${single.mib_per_s} MiB/s, first byte ${single.first_byte_ms} ms, peak RSS ${single.peak_rss_mib} MiB, ${single.cpu.cores_used} cores busy`);
  const ranged = await get(backend, undefined, firstByte.ranged);
  log(`GET ranged (defaults): ${ranged.mib_per_s} MiB/s, first byte ${ranged.first_byte_ms} ms, peak RSS ${ranged.peak_rss_mib} MiB, ${ranged.cpu.cores_used} cores busy (backend ${ranged.cpu.backend} s, connector ${ranged.cpu.connector} s, client ${ranged.cpu.client} s)`);
  const slowBytes = BYTES / 4;
  const slowMibps = 20;
  const slowBackend = await startMemoryBackend({ streamMibps: slowMibps, firstByteMs: SHAPE.firstByteMs });
  let slow: LargeResults['slow_streams'];
  try {
    await withConnector(slowBackend, undefined, async (connector) => { await putThrough(connector, slowBytes); return {}; });
    const slowFirstByte = await firstBytes(slowBackend);
    const slowSingle = await get(slowBackend, ONE_STREAM, slowFirstByte.single, slowBytes);
    const slowRanged = await get(slowBackend, undefined, slowFirstByte.ranged, slowBytes);
    slow = { bytes: slowBytes, stream_mib_per_s: slowMibps, single: slowSingle, ranged: slowRanged, throughput_ratio: Math.round((slowRanged.mib_per_s / slowSingle.mib_per_s) * 100) / 100 };
    log(`GET ${slowBytes / MIB} MiB at ${slowMibps} MiB/s per stream: one stream ${slowSingle.mib_per_s} MiB/s, ranged ${slowRanged.mib_per_s} MiB/s (${slow.throughput_ratio} ×)`);
  } finally {
    slowBackend.stop();
  }
  const results: LargeResults = {
    node: process.version,
    cpus: cpus().length,
    date: new Date().toISOString(),
    command: `npm run bench:large${QUICK ? ' -- --quick' : ''}`,
    bytes: BYTES,
    backend: { stream_mib_per_s: round1(SHAPE.streamMibps), first_byte_ms: SHAPE.firstByteMs },
    put_streamed: streamed,
    put_staged: staged,
    put_time_ratio: round2(streamed.seconds / staged.seconds),
    put_paced: { client_mib_per_s: round1(SHAPE.streamMibps), streamed: pacedStreamed, staged: pacedStaged, time_ratio: round2(pacedStreamed.seconds / pacedStaged.seconds) },
    get_single_stream: single,
    get_ranged: ranged,
    get_throughput_ratio: Math.round((ranged.mib_per_s / single.mib_per_s) * 100) / 100,
    slow_streams: slow,
  };
  writeFileSync(join(import.meta.dirname, 'results', QUICK ? 'large-objects-quick.json' : 'large-objects.json'), `${JSON.stringify(results, null, 2)}\n`);
  if (!QUICK) writeFileSync(join(ROOT, 'docs', 'benchmarks-large.md'), render(results));
  log(`put time streamed/staged ${results.put_time_ratio}; get throughput ranged/single ${results.get_throughput_ratio}`);
} finally {
  backend.stop();
}

function render(r: LargeResults): string {
  const size = `${r.bytes / MIB} MiB`;
  const met = (ok: boolean): string => (ok ? 'met' : '**not met**');
  const ttfbRatio = r.get_ranged.first_byte_ms / Math.max(1, r.get_single_stream.first_byte_ms);
  const paced = r.put_paced;
  const oneStreamFloor = round2(r.bytes / MIB / r.backend.stream_mib_per_s);
  const getRow = (label: string, g: GetFigures): string =>
    `| ${label} | ${g.seconds} s | ${g.mib_per_s} MiB/s | ${g.first_byte_ms} ms | | ${g.peak_rss_mib} MiB | ${g.cpu.backend} + ${g.cpu.connector} + ${g.cpu.client} s: ${g.cpu.cores_used} of ${r.cpus} cores |`;
  return [
    '# Large objects: streamed uploads and ranged reads',
    '',
    `Generated by \`${r.command}\` (bench/large-objects.ts) on ${r.date.slice(0, 10)}, Node ${r.node}, ${r.cpus} CPUs. Do not edit by hand.`,
    '',
    `The backend is bench/memory-backend.ts limited to ${r.backend.stream_mib_per_s} MiB/s (100 MB/s) per stream, either way, with ${r.backend.first_byte_ms} ms before every answer, as one GCS stream behaves. The connector runs as its image does (dist/, \`--max-semi-space-size=2 --max-old-space-size=64\`), default settings (8 MiB upload chunks through one resumable session, 4 ranged reads of 3 MiB) except the one-stream GET rows, which read each object as one stream. First byte is the median of ${FIRST_BYTE_SAMPLES} GETs dropped after their first byte, taken in turns from a one-stream and a ranged connector running side by side. CPU is what each of the three processes spent during the timed GET, and how many of the machine's cores that kept busy. Local disk is the connector's \`write_bytes\` in /proc/<pid>/io. "Staged" is the path before streaming, reconstructed in the benchmark: the body written to a local file at the client's speed, then sent in one resumable PUT.`,
    '',
    '| | wall time | throughput | first byte | local disk | peak RSS | CPU (backend + connector + client) |',
    '|---|---|---|---|---|---|---|',
    `| PUT ${size}, streamed (now) | ${r.put_streamed.seconds} s | ${round1(r.bytes / MIB / r.put_streamed.seconds)} MiB/s | | ${r.put_streamed.local_disk_bytes} bytes | ${r.put_streamed.peak_rss_mib} MiB | |`,
    `| PUT ${size}, staged (before) | ${r.put_staged.seconds} s (${r.put_staged.receive_seconds} s receiving) | ${round1(r.bytes / MIB / r.put_staged.seconds)} MiB/s | | ${r.put_staged.local_disk_bytes} bytes | | |`,
    `| PUT ${size}, client at ${paced.client_mib_per_s} MiB/s, streamed | ${paced.streamed.seconds} s | ${round1(r.bytes / MIB / paced.streamed.seconds)} MiB/s | | ${paced.streamed.local_disk_bytes} bytes | ${paced.streamed.peak_rss_mib} MiB | |`,
    `| PUT ${size}, client at ${paced.client_mib_per_s} MiB/s, staged | ${paced.staged.seconds} s (${paced.staged.receive_seconds} s receiving) | ${round1(r.bytes / MIB / paced.staged.seconds)} MiB/s | | ${paced.staged.local_disk_bytes} bytes | | |`,
    getRow(`GET ${size}, one stream`, r.get_single_stream),
    getRow(`GET ${size}, ranged (now)`, r.get_ranged),
    getRow(`GET ${r.slow_streams.bytes / MIB} MiB at ${r.slow_streams.stream_mib_per_s} MiB/s per stream, one stream`, r.slow_streams.single),
    getRow(`GET ${r.slow_streams.bytes / MIB} MiB at ${r.slow_streams.stream_mib_per_s} MiB/s per stream, ranged`, r.slow_streams.ranged),
    '',
    '| target (issue 12) | measured | |',
    '|---|---|---|',
    `| PUT wall time ≤ 0.6 × staged | ${r.put_time_ratio} × (${paced.time_ratio} × with the client at ${paced.client_mib_per_s} MiB/s) | ${met(r.put_time_ratio <= 0.6)} |`,
    `| PUT local disk 0 bytes | ${r.put_streamed.local_disk_bytes} bytes | ${met(r.put_streamed.local_disk_bytes === 0)} |`,
    `| PUT peak RSS ≤ 100 MiB | ${r.put_streamed.peak_rss_mib} MiB | ${met(r.put_streamed.peak_rss_mib <= 100)} |`,
    `| GET throughput ≥ 3 × one stream | ${r.get_throughput_ratio} × (${r.slow_streams.throughput_ratio} × at ${r.slow_streams.stream_mib_per_s} MiB/s per stream) | ${met(r.get_throughput_ratio >= 3)} |`,
    `| GET first byte (median of ${FIRST_BYTE_SAMPLES}, side by side) within 10% of one stream | ${round1(ttfbRatio * 100)} % | ${met(ttfbRatio <= 1.1)} |`,
    `| GET peak RSS ≤ 100 MiB | ${r.get_ranged.peak_rss_mib} MiB | ${met(r.get_ranged.peak_rss_mib <= 100)} |`,
    '',
    `One upload session is one stream: at ${r.backend.stream_mib_per_s} MiB/s, ${size} cannot take less than ${oneStreamFloor} s, ${round2(oneStreamFloor / r.put_staged.seconds)} × the staged time, however the receiving overlaps (parallel composite uploads, which were several streams, were removed: [semantics.md](semantics.md#large-objects)). Why the PUT and GET targets are out of reach here, and what would reach them: [benchmarks.md](benchmarks.md#large-objects-what-limits-them).`,
    '',
  ].join('\n');
}
