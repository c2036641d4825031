/**
 * Local run: fake-gcs-server on a free loopback port, a bucket, the connector on
 * run/state.sock (as its container entrypoint runs it), and a short demo of what it does.
 * Then it keeps serving until Ctrl-C, and stops everything cleanly.
 *
 *   npm run dev                 # CAS variant, keeps running
 *   npm run dev -- --variant lww
 *   npm run dev -- --once       # demo, then stop (what CI runs)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { START_ARGS } from '../test/helpers/connector.ts';
import { emulatorBinary, freePort } from '../test/helpers/emulator.ts';
import { request } from '../test/helpers/socket-http.ts';

const ROOT = join(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    variant: { type: 'string', default: 'cas' },
    once: { type: 'boolean', default: false },
    bucket: { type: 'string', default: 'asya-demo-state' },
  },
});
if (args.variant !== 'cas' && args.variant !== 'lww') throw new Error('--variant is cas or lww');

const children: ChildProcess[] = [];
async function stopAll(): Promise<void> {
  for (const child of children.reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}

async function startEmulatorProcess(port: number): Promise<string> {
  const origin = `http://127.0.0.1:${port}`;
  const child = spawn(emulatorBinary(), [
    '-backend', 'memory', '-scheme', 'http', '-host', '127.0.0.1', '-port', String(port),
    '-public-host', `127.0.0.1:${port}`, '-external-url', origin, '-log-level', 'error',
  ], { stdio: ['ignore', 'inherit', 'inherit'] });
  children.push(child);
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${origin}/storage/v1/b`)).ok) return origin;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error('fake-gcs-server did not start');
}

async function startConnectorProcess(env: Record<string, string>): Promise<void> {
  const child = spawn(process.execPath, START_ARGS, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(`  connector | ${chunk.toString()}`);
      if (chunk.toString().includes('"msg":"serving"')) resolve();
    });
    child.once('exit', (code) => { reject(new Error(`connector exited with ${code}`)); });
  });
}

async function demo(sock: string): Promise<void> {
  const show = async (label: string, path: string, options: Parameters<typeof request>[2] = {}): Promise<Awaited<ReturnType<typeof request>>> => {
    const res = await request(sock, path, options);
    const etag = res.headers.etag === undefined ? '' : `  ETag ${res.headers.etag}`;
    const body = res.body.length > 0 && res.body.length < 200 ? `  ${res.text()}` : '';
    console.log(`  ${label.padEnd(46)} → ${res.status}${etag}${body}`);
    return res;
  };
  console.log(`\nDemo (${args.variant}): what a handler's file operations become`);
  await show('open("cache/result.json","w") → PUT', '/keys/cache/result.json', { method: 'PUT', body: '{"count": 1}', headers: { 'content-type': 'application/json' } });
  await show('open("cache/result.json") → GET', '/keys/cache/result.json');
  await show('os.stat("cache/result.json") → HEAD', '/keys/cache/result.json', { method: 'HEAD' });
  await show('os.path.isdir("cache") → HEAD', '/keys/cache', { method: 'HEAD' });
  await show('os.listdir(".") → GET /keys/?prefix=', '/keys/?prefix=&delimiter=/');
  await show('getxattr(...,"user.asya.url") → GET /meta', '/meta/cache/result.json?attr=url');
  await show('open("cache/lock","x") → PUT If-None-Match', '/keys/cache/lock', { method: 'PUT', body: '1', headers: { 'if-none-match': '*' } });
  await show('open("cache/lock","x") again → 409', '/keys/cache/lock', { method: 'PUT', body: '1', headers: { 'if-none-match': '*' } });
  console.log('\n  Another writer changes the file between our read and our write:');
  await show('GET (we read)', '/keys/cache/result.json');
  await fetch(`${emulatorOrigin}/upload/storage/v1/b/${args.bucket}/o?uploadType=media&name=demo/cache/result.json`, { method: 'POST', body: '{"count": 5}' });
  await show(`PUT (our write) → ${args.variant === 'cas' ? '409: read again and retry' : '204: last write wins'}`, '/keys/cache/result.json', { method: 'PUT', body: '{"count": 2}' });
}

process.on('SIGINT', () => { void stopAll().then(() => process.exit(0)); });
process.on('SIGTERM', () => { void stopAll().then(() => process.exit(0)); });

const runDir = join(ROOT, 'run');
mkdirSync(runDir, { recursive: true });
const sock = join(runDir, 'state.sock');
const emulatorOrigin = await startEmulatorProcess(await freePort());
const created = await fetch(`${emulatorOrigin}/storage/v1/b?project=demo`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ name: args.bucket }),
});
if (!created.ok) throw new Error(`creating the bucket failed: HTTP ${created.status}`);
console.log(`fake-gcs-server at ${emulatorOrigin}, bucket ${args.bucket}`);

try {
  await startConnectorProcess({
    CONNECTOR_VARIANT: args.variant,
    CONNECTOR_SOCKET: sock,
    STATE_BUCKET: args.bucket,
    STATE_PREFIX: 'demo',
    STORAGE_EMULATOR_HOST: emulatorOrigin,
    METADATA_SERVER_DETECTION: 'none',
  });
  await demo(sock);
} catch (error) {
  await stopAll();
  throw error;
}

if (args.once) {
  await stopAll();
  console.log(`\nstopped; socket removed: ${String(!existsSync(sock))}`);
} else {
  console.log(`
The connector is serving on ${sock} (variant ${args.variant}, bucket ${args.bucket}, prefix demo/).
Talk to it:
  curl --unix-socket ${sock} -X PUT --data-binary @README.md http://localhost/keys/docs/readme.md
  curl --unix-socket ${sock} http://localhost/keys/docs/readme.md
  curl --unix-socket ${sock} 'http://localhost/keys/?prefix=&delimiter='
  curl --unix-socket ${sock} http://localhost/metrics
Ctrl-C stops the connector and the emulator.`);
}
