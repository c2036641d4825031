/** Starts bench/memory-backend.ts as a child process; used by the benchmarks and the read-cache tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export interface MemoryBackend {
  readonly origin: string;
  readonly process: ChildProcess;
  /** Media downloads served, bytes of media sent, and 304 answers, so far. */
  stats(): Promise<{ media_requests: number; media_bytes_sent: number; not_modified: number }>;
  stop(): void;
}

export async function startMemoryBackend(): Promise<MemoryBackend> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'memory-backend.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const origin = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (chunk: Buffer) => { resolve((JSON.parse(chunk.toString()) as { origin: string }).origin); });
    child.once('exit', (code) => { reject(new Error(`memory backend exited with ${code}`)); });
  });
  return {
    origin,
    process: child,
    async stats() {
      return (await (await fetch(`${origin}/_bench/stats`)).json()) as { media_requests: number; media_bytes_sent: number; not_modified: number };
    },
    stop() { child.kill('SIGTERM'); },
  };
}
