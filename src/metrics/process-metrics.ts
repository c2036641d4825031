/**
 * The process series operators graph first, under the names Prometheus client libraries
 * use: resident memory, CPU, open file descriptors, start time, the V8 heap, and the
 * event loop's delay. Each is read at scrape time, except the event-loop delay, which a
 * sampler measures between scrapes.
 */
import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Gauge, type Registry } from './registry.ts';

/** Sampling interval of the event-loop delay, ms: coarse enough to cost nothing measurable. */
const LOOP_DELAY_RESOLUTION_MS = 20;

export function registerProcessMetrics(registry: Registry): void {
  const startTimeSeconds = Math.round(Date.now() / 1000 - process.uptime());
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  loopDelay.enable();
  // One reading serves every gauge of a scrape: memoryUsage() walks the heap's spaces, and
  // the loop-delay histogram restarts once read.
  const memory = perScrape(() => process.memoryUsage());
  const loop = perScrape(() => {
    const reading = { p99: loopDelay.percentile(99) / 1e9, max: loopDelay.max / 1e9 };
    loopDelay.reset();
    return reading;
  });
  registry.register(new Gauge('process_resident_memory_bytes', 'Resident memory of the process.', () => memory().rss));
  registry.register(new Gauge('process_cpu_seconds_total', 'CPU time the process used, user and system.', () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  }, 'counter'));
  registry.register(new Gauge('process_open_fds', 'Open file descriptors (sockets included).', openFds));
  registry.register(new Gauge('process_start_time_seconds', 'Start time of the process, seconds since the Unix epoch.', () => startTimeSeconds));
  registry.register(new Gauge('nodejs_heap_used_bytes', 'V8 heap in use.', () => memory().heapUsed));
  registry.register(new Gauge('nodejs_heap_total_bytes', 'V8 heap reserved.', () => memory().heapTotal));
  registry.register(new Gauge('nodejs_array_buffers_bytes', 'Memory of ArrayBuffers and Buffers (request bodies, ranges, socket reads), live or not yet collected.', () => memory().arrayBuffers));
  registry.register(new Gauge('nodejs_external_memory_bytes', 'Memory outside the V8 heap that V8 tracks (buffers among it).', () => memory().external));
  registry.register(new Gauge('nodejs_eventloop_delay_p99_seconds', 'Event-loop delay, 99th percentile since the previous scrape.', () => finiteOrZero(loop().p99)));
  registry.register(new Gauge('nodejs_eventloop_delay_max_seconds', 'Event-loop delay, the largest since the previous scrape.', () => finiteOrZero(loop().max)));
}

/** Rendering a scrape takes well under this; a reading older than it belongs to an earlier scrape. */
const SCRAPE_MS = 100;

/** `read`, called at most once per scrape: later calls within SCRAPE_MS get the same reading. */
function perScrape<T>(read: () => T): () => T {
  let reading: T | undefined;
  let readAt = Number.NEGATIVE_INFINITY;
  return () => {
    const now = performance.now();
    if (reading === undefined || now - readAt > SCRAPE_MS) {
      reading = read();
      readAt = now;
    }
    return reading;
  };
}

function finiteOrZero(value: number): number {
  return Number.isFinite(value) ? value : 0;
}

/** Open descriptors from /proc; 0 where there is no /proc (not Linux). */
function openFds(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}
