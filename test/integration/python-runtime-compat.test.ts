/**
 * The protocol's "Compatibility with the Python runtime" list, driven by Python's own
 * http.client (test/python/runtime_shaped_client.py): one connection per operation,
 * unencoded keys, Content-Length and chunked PUTs, and the exceptions the runtime raises.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startConnector, type Connector } from '../helpers/connector.ts';
import { startEmulator, type Emulator } from '../helpers/emulator.ts';

const SCRIPT = join(import.meta.dirname, '..', 'python', 'runtime_shaped_client.py');
const python = spawnSync('python3', ['--version'], { encoding: 'utf8' });
const pythonMissing = python.status !== 0 ? 'python3 is not installed here: the Python-runtime compatibility run needs it' : false;

type Outcome = { ok?: unknown; raised?: string; errno?: number | null };

let emulator: Emulator;
before(async () => { emulator = await startEmulator(); });
after(async () => { await emulator.stop(); });

for (const variant of ['lww', 'cas'] as const) {
  describe(`python runtime compatibility (${variant})`, { skip: pythonMissing }, () => {
    let connector: Connector;
    let results: Record<string, Outcome>;

    before(async () => {
      const bucket = `python-compat-${variant}`;
      await emulator.createBucket(bucket);
      connector = await startConnector({ emulatorOrigin: emulator.origin, bucket, variant });
      const run = spawnSync('python3', [SCRIPT, connector.socketPath], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(run.status, 0, `python client failed:\n${run.stderr}`);
      results = JSON.parse(run.stdout) as Record<string, Outcome>;
    });
    after(async () => { await connector.stop(); });

    it('open(p, "w") then close: one PUT with Content-Length stores the file', () => {
      assert.deepEqual(results.write, { ok: null });
      assert.deepEqual(results.read, { ok: '{"count": 1}' });
    });

    it('open(p, "r"): GET answers with Content-Length, so the runtime can spool it', () => {
      assert.deepEqual(results.read_has_length, { ok: true });
    });

    it('open(p, "x"): If-None-Match: * creates, and raises FileExistsError when the file exists', () => {
      assert.deepEqual(results.exclusive_new, { ok: null });
      assert.equal(results.exclusive_existing?.raised, 'FileExistsError');
    });

    it('passthrough mounts: a chunked PUT stores the whole body', () => {
      assert.deepEqual(results.passthrough, { ok: null });
      assert.deepEqual(results.passthrough_read, { ok: 140001 });
    });

    it('os.stat / isfile / isdir / getsize: HEAD gives Content-Length and X-Is-File', () => {
      assert.deepEqual(results.stat_file, { ok: [12, true] });
      assert.deepEqual(results.stat_dir, { ok: [0, false] });
      assert.deepEqual(results.stat_root, { ok: [0, false] });
      assert.equal(results.stat_missing?.raised, 'FileNotFoundError');
      assert.deepEqual(results.exists_missing, { ok: false });
    });

    it('os.listdir: names from stripping the prefix and the trailing "/"', () => {
      assert.deepEqual(results.listdir_root, { ok: ['cache', 'stream'] });
      assert.deepEqual(results.listdir_cache, { ok: ['lock', 'result.json'] });
    });

    it('errors raise what the runtime raises: FileNotFoundError, ValueError', () => {
      assert.equal(results.read_missing?.raised, 'FileNotFoundError');
      assert.equal(results.read_bad_key?.raised, 'ValueError');
    });

    it('os.listxattr / getxattr / setxattr with user.asya.* names', () => {
      assert.deepEqual(results.listxattr?.ok, [
        'user.asya.url', 'user.asya.signed_url', 'user.asya.generation',
        'user.asya.metageneration', 'user.asya.content_type', 'user.asya.storage_class',
      ]);
      assert.equal(results.getxattr_url?.ok, `gs://python-compat-${variant}/cache/result.json`);
      assert.deepEqual(results.setxattr_type, { ok: null });
      assert.deepEqual(results.getxattr_type, { ok: 'application/json' });
      assert.equal(results.getxattr_unknown?.raised, 'OSError');
      assert.equal(results.getxattr_unknown.errno, 61, 'ENODATA');
      assert.equal(results.setxattr_readonly?.raised, 'PermissionError');
    });

    it('POST /query as Asya\'s component tests send it: rows and total, string equality, ValueError for a bad field', () => {
      assert.deepEqual(results.query_all, { ok: [[1, { count: 1 }], 2] }, 'cache/lock holds "1", a JSON document too');
      assert.deepEqual(results.query_filter, { ok: [[{ count: 1 }], 1] });
      assert.equal(results.query_bad_field?.raised, 'ValueError');
    });

    it('os.remove: DELETE, then FileNotFoundError for a second remove and a read', () => {
      assert.deepEqual(results.remove, { ok: null });
      assert.equal(results.remove_missing?.raised, 'FileNotFoundError');
      assert.equal(results.read_removed?.raised, 'FileNotFoundError');
    });
  });
}
