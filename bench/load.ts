/**
 * The load loop of the benchmarks: `concurrency` workers run an operation until `ops`
 * operations are done, each timed; answers throughput and latency percentiles.
 */
import { performance } from 'node:perf_hooks';

export interface CellResult {
  readonly ops: number;
  readonly seconds: number;
  readonly opsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** Runs `operation(i)` for i = 0..ops-1 on `concurrency` workers. */
export async function runLoad(operation: (i: number) => Promise<void>, ops: number, concurrency: number): Promise<CellResult> {
  const latencies = new Float64Array(ops);
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    for (let i = next++; i < ops; i = next++) {
      const t0 = performance.now();
      await operation(i);
      latencies[i] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, ops) }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort();
  return { ops, seconds, opsPerSecond: ops / seconds, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99) };
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}
