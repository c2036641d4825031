/**
 * Runs N counter workers and reports the final count, the updates lost, and the conflicts
 * retried. Worker i talks to socket i mod the number of sockets: one socket for all is
 * one pod's sidecar shared by concurrent handlers; one socket per worker is one pod each.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { StateClient } from '../../src/client/index.ts';
import { COUNTER_PATH } from './handler.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const MOUNT = '/state/counter';

export interface CounterOptions {
  readonly workers: number;
  readonly increments: number;
  /** The client sends If-Match from its reads (default on; off is how a plain runtime writes). */
  readonly clientCompareAndSet: boolean;
}

export interface CounterResult {
  readonly expected: number;
  readonly final: number;
  readonly lost: number;
  readonly conflicts: number;
  readonly seconds: number;
}

export async function runCounter(socketPaths: readonly string[], options: CounterOptions): Promise<CounterResult> {
  const first = socketPaths[0];
  if (first === undefined) throw new Error('runCounter needs at least one connector socket');
  const client = new StateClient({ socketPath: first, mountPath: MOUNT });
  try {
    await client.rm(COUNTER_PATH, { force: true });
    const started = performance.now();
    const reports = await Promise.all(Array.from({ length: options.workers }, (_, i) => runWorker(socketPaths[i % socketPaths.length] ?? first, options)));
    const seconds = (performance.now() - started) / 1000;
    const final = (JSON.parse(await client.readFile(COUNTER_PATH, 'utf8') as string) as { count: number }).count;
    const expected = options.workers * options.increments;
    return { expected, final, lost: expected - final, conflicts: reports.reduce((sum, report) => sum + report.conflicts, 0), seconds };
  } finally {
    client.close();
  }
}

async function runWorker(socketPath: string, options: CounterOptions): Promise<{ conflicts: number }> {
  const child = spawn(process.execPath, ['--import', join(ROOT, 'src/client/register.ts'), join(import.meta.dirname, 'worker.ts')], {
    env: {
      PATH: process.env.PATH ?? '',
      INCREMENTS: String(options.increments),
      ASYA_STATE_PROXY_MOUNTS: `counter:${MOUNT}:socket=${socketPath}${options.clientCompareAndSet ? '' : ':cas=off'}`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`counter worker exited with ${code}:\n${stderr}`);
  return JSON.parse(stdout) as { conflicts: number };
}
