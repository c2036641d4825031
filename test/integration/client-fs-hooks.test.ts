/**
 * Transparent mode: unchanged node:fs code (promises, callbacks, synchronous calls,
 * streams) on mount paths reaches the connector; other paths stay on the local disk; the
 * longest mount wins; calls object storage cannot do are refused on mount paths.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs, { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { installStateHooks, StateFsError, type InstalledStateHooks } from '../../src/client/index.ts';
import { startConnector, type Connector } from '../helpers/connector.ts';
import { getDirect, objectNames, putDirect, startEmulator, type Emulator } from '../helpers/emulator.ts';

const ROOT = join(import.meta.dirname, '..', '..');
let emulator: Emulator;
let outer: Connector;
let inner: Connector;
let hooks: InstalledStateHooks;
let localDir: string;
/** Mount paths that do not exist on this disk: anything reaching the disk there fails. */
let stateRoot: string;
const bucket = 'client-hooks';

before(async () => {
  emulator = await startEmulator();
  await emulator.createBucket(bucket);
  // Named as the mount (cache.sock), so ASYA_STATE_PROXY_SOCKET_DIR alone finds it.
  const socketDir = await mkdtemp(join(tmpdir(), 'asya-hooks-sockets-'));
  outer = await startConnector({ emulatorOrigin: emulator.origin, bucket, variant: 'cas', socketPath: join(socketDir, 'cache.sock'), env: { STATE_PREFIX: 'outer' } });
  inner = await startConnector({ emulatorOrigin: emulator.origin, bucket, variant: 'cas', env: { STATE_PREFIX: 'inner' } });
  localDir = await mkdtemp(join(tmpdir(), 'asya-hooks-local-'));
  stateRoot = join(localDir, 'not-on-disk', 'state');
  hooks = installStateHooks({
    mounts: `cache:${stateRoot}/cache:socket=${outer.socketPath};deep:${stateRoot}/cache/deep:socket=${inner.socketPath}`,
  });
});
after(async () => {
  hooks.uninstall();
  await outer.stop();
  await inner.stop();
  await emulator.stop();
});

describe('fs hooks on mount paths', () => {
  it('node:fs/promises named imports (bound before the hooks) read and write through the connector', async () => {
    await writeFile(`${stateRoot}/cache/p/result.json`, '{"count":1}');
    assert.equal((await getDirect(emulator, bucket, 'outer/p/result.json'))?.toString(), '{"count":1}');
    await putDirect(emulator, bucket, 'outer/p/external.txt', 'from GCS');
    assert.equal(await readFile(`${stateRoot}/cache/p/external.txt`, 'utf8'), 'from GCS');
    assert.ok((await stat(`${stateRoot}/cache/p`)).isDirectory());
    assert.equal(existsSync(join(localDir, 'not-on-disk')), false, 'nothing was created on the local disk');
  });

  it('errors are fs errors: a missing file is ENOENT, as the handler\'s catch expects', async () => {
    await assert.rejects(readFile(`${stateRoot}/cache/p/none.json`), (error: NodeJS.ErrnoException) => error.code === 'ENOENT' && error.syscall === 'open');
  });

  it('callback fs: readFile, writeFile, stat, readdir, exists, unlink', async () => {
    const path = `${stateRoot}/cache/cb/file.txt`;
    await promisify(fs.writeFile)(path, 'callback');
    assert.equal(await promisify(fs.readFile)(path, 'utf8'), 'callback');
    assert.equal((await promisify(fs.stat)(path)).size, 8);
    assert.deepEqual(await promisify(fs.readdir)(`${stateRoot}/cache/cb`), ['file.txt']);
    // Deprecated, but old handler code still calls it, so the hooks serve it.
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    assert.equal(await new Promise((resolve) => { fs.exists(path, resolve); }), true);
    await promisify(fs.unlink)(path);
    assert.equal(await getDirect(emulator, bucket, 'outer/cb/file.txt'), undefined);
    const error = await new Promise<NodeJS.ErrnoException | null>((resolve) => { fs.readFile(path, (e) => { resolve(e); }); });
    assert.equal(error?.code, 'ENOENT');
  });

  it('synchronous fs works through the worker bridge: readFileSync, writeFileSync, existsSync, statSync, readdirSync, mkdirSync', () => {
    const path = `${stateRoot}/cache/sync/state.json`;
    fs.mkdirSync(`${stateRoot}/cache/sync`, { recursive: true });
    fs.writeFileSync(path, '{"sync":true}');
    assert.equal(readFileSync(path, 'utf8'), '{"sync":true}');
    assert.deepEqual(readFileSync(path), Buffer.from('{"sync":true}'));
    assert.equal(existsSync(path), true);
    assert.equal(existsSync(`${stateRoot}/cache/sync/none`), false);
    assert.equal(fs.statSync(path).size, 13);
    assert.ok(fs.statSync(`${stateRoot}/cache/sync`).isDirectory());
    assert.deepEqual(fs.readdirSync(`${stateRoot}/cache/sync`, { withFileTypes: true }).map((d) => [d.name, d.isFile()]), [['state.json', true]]);
    assert.throws(() => readFileSync(`${stateRoot}/cache/sync/none`), (error: unknown) => error instanceof StateFsError && error.code === 'ENOENT');
  });

  it('streams: fs.createWriteStream then fs.createReadStream', async () => {
    const path = `${stateRoot}/cache/streams/s.txt`;
    await pipeline(async function* () { yield Buffer.from('stream '); yield Buffer.from('through hooks'); }, fs.createWriteStream(path));
    const chunks: Buffer[] = [];
    for await (const chunk of fs.createReadStream(path)) chunks.push(chunk as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'stream through hooks');
  });

  it('fs.promises.open returns a handle with read and write', async () => {
    const handle = await fs.promises.open(`${stateRoot}/cache/h/handle.txt`, 'w+');
    await handle.write('handle');
    await handle.close();
    assert.equal((await getDirect(emulator, bucket, 'outer/h/handle.txt'))?.toString(), 'handle');
  });

  it('the longest matching mount wins', async () => {
    await writeFile(`${stateRoot}/cache/deep/x.txt`, 'inner');
    await writeFile(`${stateRoot}/cache/deeper.txt`, 'outer, not a child of deep/');
    assert.equal((await getDirect(emulator, bucket, 'inner/x.txt'))?.toString(), 'inner');
    assert.equal(await getDirect(emulator, bucket, 'outer/deep/x.txt'), undefined);
    assert.equal((await getDirect(emulator, bucket, 'outer/deeper.txt'))?.toString(), 'outer, not a child of deep/');
  });

  it('calls object storage cannot do are refused on mount paths with ENOTSUP, touching nothing', async () => {
    await writeFile(`${stateRoot}/cache/r/a`, 'a');
    await assert.rejects(rename(`${stateRoot}/cache/r/a`, `${stateRoot}/cache/r/b`), (error: NodeJS.ErrnoException) => error.code === 'ENOTSUP');
    await assert.rejects(rename(join(localDir, 'x'), `${stateRoot}/cache/r/b`), (error: NodeJS.ErrnoException) => error.code === 'ENOTSUP');
    assert.throws(() => fs.openSync(`${stateRoot}/cache/r/a`, 'r'), (error: NodeJS.ErrnoException) => error.code === 'ENOTSUP' && /fs\.promises\.open/.test(error.message));
    const callbackError = await new Promise<NodeJS.ErrnoException | null>((resolve) => { fs.open(`${stateRoot}/cache/r/a`, 'r', (e) => { resolve(e); }); });
    assert.equal(callbackError?.code, 'ENOTSUP');
    assert.equal((await getDirect(emulator, bucket, 'outer/r/a'))?.toString(), 'a');
  });

  it('openAsBlob, glob and watch are refused on mount paths, each the way its kind of call fails', async () => {
    const onMount = `${stateRoot}/cache/r/a`;
    const isNotSupported = (error: NodeJS.ErrnoException): boolean => error.code === 'ENOTSUP';
    await assert.rejects(fs.openAsBlob(onMount), isNotSupported);
    assert.throws(() => fs.globSync(`${stateRoot}/cache/r/*`), isNotSupported);
    await assert.rejects((async () => { for await (const _ of fs.promises.glob(`${stateRoot}/cache/r/*`)) { /* never reached */ } })(), isNotSupported);
    assert.throws(() => fs.watch(onMount), isNotSupported);
    assert.throws(() => { fs.watchFile(onMount, () => undefined); }, isNotSupported);
  });

  it('mkdtempDisposable (promises and sync) is refused on mount paths; realpath.native still exists and resolves through the connector', async () => {
    const isNotSupported = (error: NodeJS.ErrnoException): boolean => error.code === 'ENOTSUP';
    await assert.rejects(fs.promises.mkdtempDisposable(`${stateRoot}/cache/tmp-`), isNotSupported);
    assert.throws(() => fs.mkdtempDisposableSync(`${stateRoot}/cache/tmp-`), isNotSupported);
    await writeFile(`${stateRoot}/cache/real/x`, 'x');
    assert.equal(typeof fs.realpathSync.native, 'function');
    assert.equal(fs.realpathSync.native(`${stateRoot}/cache/real/../real/x`), `${stateRoot}/cache/real/x`);
    const viaCallback = await new Promise<string>((resolve, reject) => {
      fs.realpath.native(`${stateRoot}/cache/real/x`, (error, resolved) => { if (error) reject(error); else resolve(resolved); });
    });
    assert.equal(viaCallback, `${stateRoot}/cache/real/x`);
    assert.equal(fs.realpathSync.native(localDir), fs.realpathSync(localDir), 'off the mounts, the original');
  });

  it('a Buffer path that is not valid UTF-8 on a mount is EINVAL and stores nothing', async () => {
    const invalid = Buffer.concat([Buffer.from(`${stateRoot}/cache/r/bad-`), Buffer.from([0xff, 0xfe])]);
    await assert.rejects(fs.promises.writeFile(invalid, 'x'), (error: NodeJS.ErrnoException) => error.code === 'EINVAL');
    const callbackError = await new Promise<NodeJS.ErrnoException | null>((resolve) => { fs.writeFile(invalid, 'x', (e) => { resolve(e); }); });
    assert.equal(callbackError?.code, 'EINVAL');
    assert.throws(() => { fs.writeFileSync(invalid, 'x'); }, (error: NodeJS.ErrnoException) => error.code === 'EINVAL');
    assert.ok(!(await objectNames(emulator, bucket)).some((name) => name.includes('bad-')));
  });
});

describe('fs hooks off mount paths', () => {
  it('other paths use the local disk, through every API style', async () => {
    const path = join(localDir, 'local.txt');
    await writeFile(path, 'local');
    assert.equal(readFileSync(path, 'utf8'), 'local');
    assert.equal(await promisify(fs.readFile)(path, 'utf8'), 'local');
    fs.renameSync(path, `${path}.moved`);
    assert.equal(existsSync(`${path}.moved`), true);
    assert.equal(hooks.clientFor(path), undefined);
  });

  it('a path that only shares a prefix string with a mount is not on it', () => {
    assert.equal(hooks.clientFor(`${stateRoot}/cache-other/x`), undefined);
    assert.notEqual(hooks.clientFor(`${stateRoot}/cache/x`), undefined);
  });
});

describe('fs hooks from ASYA_STATE_PROXY_MOUNTS with --import register', () => {
  it('a handler script with plain node:fs, run with --import, stores through the connector found by mount name', async () => {
    const script = `import { writeFile, readFile } from 'node:fs/promises';
await writeFile('${stateRoot}/cache/registered/out.txt', 'via register');
process.stdout.write(await readFile('${stateRoot}/cache/registered/out.txt', 'utf8'));`;
    const child = spawn(process.execPath, ['--import', join(ROOT, 'src/client/register.ts'), '--input-type=module', '-e', script], {
      env: { PATH: process.env.PATH ?? '', ASYA_STATE_PROXY_MOUNTS: `cache:${stateRoot}/cache:write=buffered`, ASYA_STATE_PROXY_SOCKET_DIR: join(outer.socketPath, '..') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const code = await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, stderr);
    assert.equal(stdout, 'via register');
    assert.equal((await getDirect(emulator, bucket, 'outer/registered/out.txt'))?.toString(), 'via register');
  });
});
