/**
 * The asya-state CLI against the real connector: every command, its output, --help, the
 * progress bar, and an exit code per kind of failure.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { connectorSuite } from '../helpers/connector.ts';
import { getDirect } from '../helpers/emulator.ts';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const bucket = 'cli';
const work = mkdtempSync(join(tmpdir(), 'asya-cli-'));
const suite = connectorSuite({ bucket, variant: 'cas' });

interface Run { code: number | null; stdout: Buffer; stderr: string }

function cli(args: readonly string[], options: { stdin?: Buffer; socket?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, '--socket', options.socket ?? suite.socketPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.once('exit', (code) => { resolve({ code, stdout: Buffer.concat(stdout), stderr }); });
    child.stdin.end(options.stdin);
  });
}

describe('asya-state CLI', () => {
  it('put from a file and from stdin, then cat them back', async () => {
    const file = join(work, 'local.json');
    writeFileSync(file, '{"from":"file"}');
    assert.equal((await cli(['put', '--content-type', 'application/json', 'docs/a.json', file])).code, 0);
    assert.equal((await cli(['put', 'docs/b.txt'], { stdin: Buffer.from('from stdin') })).code, 0);
    assert.equal((await cli(['cat', 'docs/a.json'])).stdout.toString(), '{"from":"file"}');
    assert.equal((await cli(['cat', 'docs/b.txt'])).stdout.toString(), 'from stdin');
    assert.equal((await getDirect(suite.emulator, bucket, 'docs/b.txt'))?.toString(), 'from stdin');
  });

  it('ls lists names, long listings and recursive listings', async () => {
    await cli(['put', 'tree/x.txt'], { stdin: Buffer.from('12345') });
    await cli(['put', 'tree/sub/y.txt'], { stdin: Buffer.from('y') });
    assert.equal((await cli(['ls', 'tree'])).stdout.toString(), 'sub/\nx.txt\n');
    assert.equal((await cli(['ls', '-R', 'tree'])).stdout.toString(), 'sub/\nsub/y.txt\nx.txt\n');
    const long = (await cli(['ls', '-l', 'tree'])).stdout.toString().split('\n');
    assert.match(long[0] ?? '', /^dir\s+-\s+-\s+sub\/$/);
    assert.match(long[1] ?? '', /^file\s+5\s+\d{4}-\d\d-\d\dT\S+\s+x\.txt$/);
    assert.match((await cli(['ls'])).stdout.toString(), /^tree\/$/m);
  });

  it('stat prints a file or a directory, as text or JSON', async () => {
    const text = (await cli(['stat', 'tree/x.txt'])).stdout.toString();
    assert.match(text, /^type:\s+file$/m);
    assert.match(text, /^size:\s+5$/m);
    const json = JSON.parse((await cli(['stat', '--json', 'tree/x.txt'])).stdout.toString()) as Record<string, unknown>;
    assert.equal(json.size, 5);
    assert.match(String(json.generation), /^\d+$/);
    assert.equal((JSON.parse((await cli(['stat', '--json', 'tree'])).stdout.toString()) as { type: string }).type, 'directory');
  });

  it('xattr list, get and set', async () => {
    assert.match((await cli(['xattr', 'list', 'docs/a.json'])).stdout.toString(), /^content_type$/m);
    assert.equal((await cli(['xattr', 'get', 'docs/a.json', 'url'])).stdout.toString(), `gs://${bucket}/docs/a.json\n`);
    assert.equal((await cli(['xattr', 'set', 'docs/a.json', 'content_type', 'text/plain'])).code, 0);
    assert.equal((await cli(['xattr', 'get', 'docs/a.json', 'content_type'])).stdout.toString(), 'text/plain\n');
  });

  it('rm deletes a file, and a directory with -r', async () => {
    assert.equal((await cli(['rm', 'docs/b.txt'])).code, 0);
    assert.equal(await getDirect(suite.emulator, bucket, 'docs/b.txt'), undefined);
    assert.equal((await cli(['rm', '-r', 'tree'])).code, 0);
    assert.equal((await cli(['ls', 'tree'])).stdout.toString(), '');
  });

  it('rm -r refuses every path that names the whole mount, and removes nothing', async () => {
    assert.equal((await cli(['put', 'keep/me.txt'], { stdin: Buffer.from('kept') })).code, 0);
    for (const path of ['.', 'keep/..', '/', '', './']) {
      const refused = await cli(['rm', '-r', path]);
      assert.equal(refused.code, 6, `rm -r ${JSON.stringify(path)} exits 6 (invalid)`);
      assert.match(refused.stderr, /whole mount/);
    }
    assert.equal((await getDirect(suite.emulator, bucket, 'keep/me.txt'))?.toString(), 'kept');
  });

  it('shows a progress bar for a large transfer when asked', async () => {
    const put = await cli(['put', '--progress', 'big.bin'], { stdin: Buffer.alloc(3 * 1024 * 1024, 1) });
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stderr, /put big\.bin .*3\.0 MiB/);
    const cat = await cli(['cat', '--progress', 'big.bin']);
    assert.equal(cat.stdout.length, 3 * 1024 * 1024);
    assert.match(cat.stderr, /cat big\.bin \[#+\] 100% 3\.0\/3\.0 MiB/);
  });

  it('exit codes follow the error: 3 not found, 4 exists, 5 permission, 6 invalid, 2 usage', async () => {
    const missing = await cli(['cat', 'nope']);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /ENOENT/);
    assert.equal((await cli(['rm', 'nope'])).code, 3);
    assert.equal((await cli(['rm', '-f', 'nope'])).code, 0);
    assert.equal((await cli(['put', '--create', 'docs/a.json'], { stdin: Buffer.from('again') })).code, 4);
    assert.equal((await cli(['xattr', 'set', 'docs/a.json', 'generation', '1'])).code, 5);
    assert.equal((await cli(['xattr', 'get', 'docs/a.json', 'colour'])).code, 6);
    assert.equal((await cli(['cat', 'x'.repeat(1100)])).code, 6, 'an object name over 1024 bytes is refused');
    assert.equal((await cli(['frobnicate'])).code, 2);
    assert.equal((await cli(['ls', '--bogus'])).code, 2);
    assert.equal((await cli(['xattr', 'get', 'docs/a.json'])).code, 2);
  });

  it('exit code 7 when no connector listens, 8 when it does not answer in time', async () => {
    const none = await cli(['ls'], { socket: join(work, 'none.sock') });
    assert.equal(none.code, 7);
    assert.match(none.stderr, /no connector is listening/);
    const stalled = join(work, 'stall.sock');
    const held: Socket[] = [];
    const server = createServer((socket) => { held.push(socket); });
    await new Promise<void>((resolve) => server.listen(stalled, resolve));
    try {
      assert.equal((await cli(['--timeout', '300', 'ls'], { socket: stalled })).code, 8);
    } finally {
      for (const socket of held) socket.destroy();
      server.close();
    }
  });

  it('cat into a reader that stops early (cat KEY | head) ends quietly with 0, not "write EPIPE"', async () => {
    await cli(['put', 'big/pipe.bin'], { stdin: Buffer.alloc(4 * 1024 * 1024, 0x41) });
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, '--socket', suite.socketPath, 'cat', 'big/pipe.bin'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
      // Like `head -c 10`: read a little, then close the pipe.
      child.stdout.once('data', () => { child.stdout.destroy(); });
      child.once('exit', (code) => { resolve({ code, stderr }); });
    });
    assert.equal(result.stderr, '');
    assert.equal(result.code, 0);
  });

  it('query prints the answer as one JSON line; filter, sort, limit and offset reach the connector', async () => {
    for (const [name, age] of [['ann', 41], ['ben', 7], ['cid', 30]] as const) {
      await cli(['put', `people/${name}.json`], { stdin: Buffer.from(JSON.stringify({ name, age })) });
    }
    await cli(['put', 'people/readme.txt'], { stdin: Buffer.from('not json') });
    const all = await cli(['query', 'people/']);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout.toString(), `${JSON.stringify({ rows: [{ name: 'ann', age: 41 }, { name: 'ben', age: 7 }, { name: 'cid', age: 30 }], total: 3 })}\n`);
    assert.match(all.stderr, /1 file\(s\) under the prefix were not JSON/);
    const sorted = await cli(['query', '--filter', '{"age": {"$gt": 10}}', '--sort=-age', '--limit', '1', '--offset', '1', 'people/']);
    assert.equal(sorted.code, 0, sorted.stderr);
    assert.deepEqual(JSON.parse(sorted.stdout.toString()), { rows: [{ name: 'cid', age: 30 }], total: 2 });
  });

  it('query refuses a filter that is not a JSON object (usage, 2) and a bad field the connector refuses (invalid request, 6)', async () => {
    const usage = await cli(['query', '--filter', 'age>3']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--filter must be a JSON object/);
    const refused = await cli(['query', '--sort', 'a-b']);
    assert.equal(refused.code, 6);
    assert.match(refused.stderr, /"a-b" is not a field name/);
  });

  it('--socket and --timeout may come after the command, with their values as separate words or after "="', async () => {
    await cli(['put', 'late/opts.txt'], { stdin: Buffer.from('late') });
    const run = (args: readonly string[]): Promise<Run> => new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      const stdout: Buffer[] = [];
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
      child.once('exit', (code) => { resolve({ code, stdout: Buffer.concat(stdout), stderr }); });
    });
    const listed = await run(['ls', '--socket', suite.socketPath, 'late']);
    assert.equal(listed.stdout.toString(), 'opts.txt\n', listed.stderr);
    const read = await run(['cat', '--timeout', '5000', `--socket=${suite.socketPath}`, 'late/opts.txt']);
    assert.equal(read.stdout.toString(), 'late', read.stderr);
  });

  it('--version prints the version', async () => {
    const run = await cli(['--version']);
    assert.equal(run.code, 0);
    assert.equal(run.stdout.toString(), `asya-state ${(JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version}\n`);
  });

  it('ls of a directory with nothing under it is "not found" (3); ls --json gives names, types and, with -l, sizes', async () => {
    const none = await cli(['ls', 'no-such-dir']);
    assert.equal(none.code, 3, none.stderr);
    assert.match(none.stderr, /ENOENT/);
    await cli(['put', 'jsonls/a.txt'], { stdin: Buffer.from('12345') });
    await cli(['put', 'jsonls/sub/b.txt'], { stdin: Buffer.from('b') });
    assert.deepEqual(JSON.parse((await cli(['ls', '--json', 'jsonls'])).stdout.toString()), [{ name: 'a.txt', type: 'file' }, { name: 'sub/', type: 'directory' }]);
    const [first] = JSON.parse((await cli(['ls', '-l', '--json', 'jsonls'])).stdout.toString()) as Array<{ name: string; size?: number; modified?: string }>;
    assert.ok(first !== undefined);
    assert.equal(first.size, 5);
    assert.match(first.modified ?? '', /^\d{4}-\d\d-\d\dT/);
  });

  it('ls -l shows sizes as ls -lh does', async () => {
    await cli(['put', 'sized/big.bin'], { stdin: Buffer.alloc(1536 * 1024, 1) });
    assert.match((await cli(['ls', '-l', 'sized'])).stdout.toString(), /^file\s+1\.5M\s+\S+\s+big\.bin$/m);
  });

  it('put of a KEY ending in "/" is refused (6) and stores nothing', async () => {
    const run = await cli(['put', 'notes/', '-'], { stdin: Buffer.from('x') });
    assert.equal(run.code, 6, run.stderr);
    assert.match(run.stderr, /EISDIR/);
    assert.equal(await getDirect(suite.emulator, bucket, 'notes'), undefined);
  });

  it('cat of a directory is EISDIR, as the library says; rm of one suggests -r', async () => {
    await cli(['put', 'adir/f.txt'], { stdin: Buffer.from('f') });
    const cat = await cli(['cat', 'adir']);
    assert.equal(cat.code, 6);
    assert.match(cat.stderr, /EISDIR/);
    const rm = await cli(['rm', 'adir']);
    assert.equal(rm.code, 6);
    assert.match(rm.stderr, /use rm -r/);
  });

  it('put --if-match GEN stores only at that generation (4 otherwise); --if-none-match only when absent', async () => {
    await cli(['put', 'cond/k'], { stdin: Buffer.from('v1') });
    const generation = (JSON.parse((await cli(['stat', '--json', 'cond/k'])).stdout.toString()) as { generation: string }).generation;
    assert.equal((await cli(['put', '--if-match', generation, 'cond/k'], { stdin: Buffer.from('v2') })).code, 0);
    const stale = await cli(['put', '--if-match', `"${generation}"`, 'cond/k'], { stdin: Buffer.from('v3') });
    assert.equal(stale.code, 4, stale.stderr);
    assert.equal((await cli(['put', '--if-none-match', 'cond/k'], { stdin: Buffer.from('v4') })).code, 4);
    assert.equal((await cli(['put', '--if-match', 'abc', 'cond/k'], { stdin: Buffer.from('v5') })).code, 2);
    assert.equal((await getDirect(suite.emulator, bucket, 'cond/k'))?.toString(), 'v2');
  });

  it('the socket comes from CONNECTOR_SOCKET when neither --socket nor ASYA_STATE_SOCKET is given; a relative --socket is taken from the working directory', async () => {
    await cli(['put', 'env/k'], { stdin: Buffer.from('from env') });
    const run = (args: readonly string[], env: Record<string, string>, cwd?: string): Promise<Run> => new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', ...env }, ...(cwd === undefined ? {} : { cwd }) });
      const stdout: Buffer[] = [];
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
      child.once('exit', (code) => { resolve({ code, stdout: Buffer.concat(stdout), stderr }); });
    });
    assert.equal((await run(['cat', 'env/k'], { CONNECTOR_SOCKET: suite.socketPath })).stdout.toString(), 'from env');
    const relative = await run(['--socket', basename(suite.socketPath), 'cat', 'env/k'], {}, dirname(suite.socketPath));
    assert.equal(relative.stdout.toString(), 'from env', relative.stderr);
  });

  it('scripts/asya-state prints only the CLI\'s own output', async () => {
    await cli(['put', 'wrapped/k'], { stdin: Buffer.from('exactly this') });
    const output = await new Promise<Buffer>((resolve) => {
      const child = spawn('sh', [join(import.meta.dirname, '..', '..', 'scripts', 'asya-state'), '--socket', suite.socketPath, 'cat', 'wrapped/k'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const chunks: Buffer[] = [];
      child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
      child.once('exit', () => { resolve(Buffer.concat(chunks)); });
    });
    assert.equal(output.toString(), 'exactly this');
  });

  it('--help works for the tool and every command', async () => {
    assert.match((await cli(['--help'])).stdout.toString(), /^usage: asya-state/);
    for (const command of ['ls', 'cat', 'put', 'rm', 'stat', 'query', 'xattr']) {
      const help = await cli([command, '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout.toString(), new RegExp(`^usage: asya-state ${command}`));
    }
  });
});
