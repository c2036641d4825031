/**
 * `node bench/resumed-download.ts`: what the resume layer (src/store/gcs/resumed-download.ts)
 * costs a download that never breaks. GETs of one object from bench/memory-backend.ts,
 * each body consumed either straight from the HTTP response or through `resumingBody`,
 * in alternating rounds in one process; prints the CPU per download of each way and
 * their difference. Nothing here breaks: it is the price every download pays.
 */
import { request, Agent } from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { resumingBody } from '../src/store/gcs/resumed-download.ts';
import { median } from './load.ts';
import { startMemoryBackend } from './start-memory-backend.ts';

const ROUNDS = 7;
const DOWNLOADS = 3000;
const CONCURRENCY = 16;

const backend = await startMemoryBackend();
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function get(path: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    request(`${backend.origin}${path}`, { agent }, resolve).on('error', reject).end();
  });
}

async function consume(body: Readable): Promise<number> {
  let bytes = 0;
  for await (const chunk of body) bytes += (chunk as Buffer).length;
  return bytes;
}

async function round(path: string, size: number, resumed: boolean): Promise<number> {
  const started = process.cpuUsage();
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next++ < DOWNLOADS) {
      const response = await get(path);
      await consume(resumed
        ? resumingBody(response, {
          size,
          retry: { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 5_000 },
          target: path,
          mapError: (error) => error,
          resumeAt: () => Promise.reject(new Error('this benchmark never breaks a download')),
          onResume: () => undefined,
        })
        : response);
    }
  }));
  const used = process.cpuUsage(started);
  return (used.user + used.system) / DOWNLOADS;
}

try {
  await fetch(`${backend.origin}/storage/v1/b?project=bench`, { method: 'POST', body: JSON.stringify({ name: 'resume-bench' }) });
  for (const size of [1024, 64 * 1024, 1024 * 1024]) {
    const name = `object-${size}`;
    await fetch(`${backend.origin}/upload/storage/v1/b/resume-bench/o?uploadType=media&name=${name}`, { method: 'POST', body: Buffer.alloc(size, 7) });
    const path = `/storage/v1/b/resume-bench/o/${name}?alt=media`;
    const plain: number[] = [];
    const resumed: number[] = [];
    await round(path, size, false);
    for (let i = 0; i < ROUNDS; i++) {
      plain.push(await round(path, size, false));
      resumed.push(await round(path, size, true));
    }
    const [a, b] = [median(plain), median(resumed)];
    console.log(`${String(size / 1024).padStart(5)} KiB: ${a.toFixed(1)} µs CPU per download straight, ${b.toFixed(1)} through resumingBody (+${(b - a).toFixed(1)} µs, ×${(b / a).toFixed(2)}); medians of ${ROUNDS} alternating rounds of ${DOWNLOADS}`);
  }
} finally {
  agent.destroy();
  backend.stop();
}
