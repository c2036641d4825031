/**
 * Local run: fake-gcs-server on a free loopback port, a bucket, the connector on
 * run/state.sock (as its container entrypoint runs it), and a short demo of what it does.
 * Then it keeps serving until Ctrl-C, and stops everything cleanly.
 *
 *   npm run dev                 # CAS variant, keeps running
 *   npm run dev -- --variant lww
 *   npm run dev -- --once       # demo, then stop (what CI runs)
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { counterDemo } from '../examples/counter/counter-demo.ts';
import { startConnector } from '../test/helpers/connector.ts';
import { putDirect, startEmulator, type Emulator } from '../test/helpers/emulator.ts';
import { request } from '../test/helpers/socket-http.ts';

const ROOT = join(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    variant: { type: 'string', default: 'cas' },
    once: { type: 'boolean', default: false },
    bucket: { type: 'string', default: 'asya-demo-state' },
  },
});
const variant = args.variant;
if (variant !== 'cas' && variant !== 'lww') throw new Error('--variant is cas or lww');

async function demo(sock: string, emulator: Emulator): Promise<void> {
  const show = async (label: string, path: string, options: Parameters<typeof request>[2] = {}): Promise<Awaited<ReturnType<typeof request>>> => {
    const res = await request(sock, path, options);
    const etag = res.headers.etag === undefined ? '' : `  ETag ${res.headers.etag}`;
    const body = res.body.length > 0 && res.body.length < 200 ? `  ${res.text()}` : '';
    console.log(`  ${label.padEnd(46)} → ${res.status}${etag}${body}`);
    return res;
  };
  console.log(`\nDemo (${variant}): what a handler's file operations become`);
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
  await putDirect(emulator, args.bucket, 'demo/cache/result.json', '{"count": 5}');
  await show(`PUT (our write) → ${variant === 'cas' ? '409: read again and retry' : '204: last write wins'}`, '/keys/cache/result.json', { method: 'PUT', body: '{"count": 2}' });
}

const runDir = join(ROOT, 'run');
mkdirSync(runDir, { recursive: true });
const sock = join(runDir, 'state.sock');
const emulator = await startEmulator();
await emulator.createBucket(args.bucket);
console.log(`fake-gcs-server at ${emulator.origin}, bucket ${args.bucket}`);

const connector = await startConnector({
  emulatorOrigin: emulator.origin,
  bucket: args.bucket,
  variant,
  socketPath: sock,
  env: { STATE_PREFIX: 'demo' },
  onLine: (line) => { console.log(`  connector | ${line}`); },
  // Ctrl-C reaches this script only; it stops the connector with one SIGTERM, which drains.
  ownProcessGroup: true,
}).catch(async (error: unknown) => {
  await emulator.stop();
  throw error;
});
const stopAll = async (): Promise<void> => {
  await connector.stop();
  await emulator.stop();
};
// Outside the terminal's process group the connector would outlive an abrupt exit of this script.
process.on('exit', () => { if (connector.process.exitCode === null) connector.process.kill('SIGKILL'); });
process.on('SIGINT', () => { void stopAll().then(() => process.exit(0)); });
process.on('SIGTERM', () => { void stopAll().then(() => process.exit(0)); });

try {
  await demo(sock, emulator);
  await counterDemo({ emulatorOrigin: emulator.origin, bucket: args.bucket, workers: 8, increments: 50 });
} catch (error) {
  await stopAll();
  throw error;
}

if (args.once) {
  await stopAll();
  console.log(`\nstopped; socket removed: ${String(!existsSync(sock))}`);
} else {
  console.log(`
The connector is serving on ${sock} (variant ${variant}, bucket ${args.bucket}, prefix demo/).
Talk to it:
  curl --unix-socket ${sock} -X PUT --data-binary @README.md http://localhost/keys/docs/readme.md
  curl --unix-socket ${sock} http://localhost/keys/docs/readme.md
  curl --unix-socket ${sock} 'http://localhost/keys/?prefix=&delimiter='
  curl --unix-socket ${sock} http://localhost/metrics
Ctrl-C stops the connector and the emulator.`);
}
