/**
 * fake-gcs-server for tests: started on a free loopback port with the memory backend,
 * stopped at the end. Also a probe of what this emulator version gets wrong, so tests can
 * say so instead of asserting an emulator bug as product behaviour.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = join(import.meta.dirname, '..', '..');

export function emulatorBinary(): string {
  const override = process.env.FAKE_GCS_SERVER_BIN;
  if (override !== undefined && override !== '') return override;
  const bin = join(ROOT, '.tools', 'bin', 'fake-gcs-server');
  if (!existsSync(bin)) throw new Error(`fake-gcs-server not found at ${bin}; run: bash scripts/ensure-emulator.sh`);
  return bin;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : 0); });
    });
  });
}

export interface Emulator {
  readonly origin: string;
  readonly port: number;
  createBucket(name: string): Promise<void>;
  /** Stops the process (SIGKILL: its state is in memory and is meant to go). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
}

async function waitUntilAnswering(origin: string, child: ChildProcess): Promise<void> {
  const until = Date.now() + 15_000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`fake-gcs-server exited with code ${child.exitCode}`);
    try {
      const res = await fetch(`${origin}/storage/v1/b`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`fake-gcs-server did not answer at ${origin} within 15 s`);
}

export async function startEmulator(): Promise<Emulator> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  let child: ChildProcess;
  const launch = async (): Promise<void> => {
    child = spawn(emulatorBinary(), [
      '-backend', 'memory', '-scheme', 'http', '-host', '127.0.0.1', '-port', String(port),
      '-public-host', `127.0.0.1:${port}`, '-external-url', origin, '-log-level', 'error',
    ], { stdio: ['ignore', 'ignore', 'inherit'] });
    await waitUntilAnswering(origin, child);
  };
  await launch();
  const stop = async (): Promise<void> => {
    // A killed child has a signalCode and no exitCode.
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };
  return {
    origin,
    port,
    async createBucket(name) {
      const res = await fetch(`${origin}/storage/v1/b?project=test`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
      });
      if (!res.ok) throw new Error(`creating bucket ${name}: HTTP ${res.status} ${await res.text()}`);
    },
    stop,
    async restart() {
      await stop();
      await launch();
    },
  };
}

/** What this fake-gcs-server does differently from GCS, found by asking it. */
export interface EmulatorQuirks {
  /** DELETE honours ifGenerationMatch (fake-gcs-server issue #1282: not in v1.56.1). */
  readonly deleteHonoursPreconditions: boolean;
  /** Compose honours ifGenerationMatch on its destination (not in v1.56.1: its compose handler reads no precondition). */
  readonly composeHonoursPreconditions: boolean;
}

export async function probeQuirks(emulator: Emulator, bucket: string): Promise<EmulatorQuirks> {
  const name = `quirk-probe-${Date.now()}`;
  const created = await fetch(`${emulator.origin}/upload/storage/v1/b/${bucket}/o?uploadType=media&name=${name}`, { method: 'POST', body: 'x' });
  if (!created.ok) throw new Error(`probe upload failed: HTTP ${created.status}`);
  // Composing the object into a new one that "must be at generation 1" must be refused.
  const composed = await fetch(`${emulator.origin}/storage/v1/b/${bucket}/o/${name}-composed/compose?ifGenerationMatch=1`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sourceObjects: [{ name }], destination: { contentType: 'application/octet-stream' } }),
  });
  await composed.arrayBuffer();
  await (await fetch(`${emulator.origin}/storage/v1/b/${bucket}/o/${name}-composed`, { method: 'DELETE' })).arrayBuffer();
  const deleted = await fetch(`${emulator.origin}/storage/v1/b/${bucket}/o/${name}?ifGenerationMatch=1`, { method: 'DELETE' });
  await deleted.arrayBuffer();
  const honoured = deleted.status === 412;
  if (honoured) await fetch(`${emulator.origin}/storage/v1/b/${bucket}/o/${name}`, { method: 'DELETE' });
  return { deleteHonoursPreconditions: honoured, composeHonoursPreconditions: composed.status === 412 };
}

/** Names of the objects in a bucket (all of them), straight from the emulator. */
export async function objectNames(emulator: Emulator, bucket: string): Promise<string[]> {
  const names: string[] = [];
  let pageToken = '';
  do {
    const res = await fetch(`${emulator.origin}/storage/v1/b/${bucket}/o?maxResults=1000${pageToken === '' ? '' : `&pageToken=${encodeURIComponent(pageToken)}`}`);
    const page = (await res.json()) as { items?: { name: string }[]; nextPageToken?: string };
    names.push(...(page.items ?? []).map((item) => item.name));
    pageToken = page.nextPageToken ?? '';
  } while (pageToken !== '');
  return names.sort();
}

/** Writes an object directly (an "external" writer, not through the connector). */
export async function putDirect(emulator: Emulator, bucket: string, name: string, body: string | Buffer): Promise<string> {
  const res = await fetch(`${emulator.origin}/upload/storage/v1/b/${bucket}/o?uploadType=media&name=${encodeURIComponent(name)}`, { method: 'POST', body });
  const json = (await res.json()) as { generation: string };
  if (!res.ok) throw new Error(`direct upload of ${name}: HTTP ${res.status}`);
  return json.generation;
}

/** An object's generation, read directly from the emulator. */
export async function generationDirect(emulator: Emulator, bucket: string, name: string): Promise<string> {
  const res = await fetch(`${emulator.origin}/storage/v1/b/${bucket}/o/${encodeURIComponent(name)}`);
  if (!res.ok) throw new Error(`direct stat of ${name}: HTTP ${res.status}`);
  return ((await res.json()) as { generation: string }).generation;
}

/** Reads an object directly; undefined when absent. */
export async function getDirect(emulator: Emulator, bucket: string, name: string): Promise<Buffer | undefined> {
  const res = await fetch(`${emulator.origin}/storage/v1/b/${bucket}/o/${encodeURIComponent(name)}?alt=media`);
  if (res.status === 404) {
    await res.arrayBuffer();
    return undefined;
  }
  if (!res.ok) throw new Error(`direct read of ${name}: HTTP ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}
