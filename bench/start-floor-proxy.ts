/** Starts bench/floor-proxy.ts as a child process with the connector's V8 flags. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { START_FLAGS } from '../test/helpers/connector.ts';

export interface FloorProxy {
  readonly socketPath: string;
  readonly process: ChildProcess;
  stop(): void;
}

export async function startFloorProxy(origin: string, bucket: string, socketPath: string): Promise<FloorProxy> {
  // The connector's V8 flags: the young generation's size alone visibly moves CPU per request.
  const child = spawn(process.execPath, [...START_FLAGS, join(import.meta.dirname, 'floor-proxy.ts'), '--socket', socketPath, '--origin', origin, '--bucket', bucket], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => { resolve(); });
    child.once('exit', (code) => { reject(new Error(`floor proxy exited with ${code}`)); });
  });
  return { socketPath, process: child, stop() { child.kill('SIGTERM'); } };
}
