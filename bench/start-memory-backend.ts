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

/** How the backend behaves like GCS for large objects: a bandwidth per stream and a first-byte latency (0: none). */
export interface BackendShape {
  readonly streamMibps?: number;
  readonly firstByteMs?: number;
}

export async function startMemoryBackend(shape: BackendShape = {}): Promise<MemoryBackend> {
  const args = [join(import.meta.dirname, 'memory-backend.ts'), '--stream-mibps', String(shape.streamMibps ?? 0), '--first-byte-ms', String(shape.firstByteMs ?? 0)];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
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
