/**
 * The client library as a package of its own (packages/asya-state-client): built from
 * src/client/, packed with npm, installed offline into an empty project with nothing
 * else, and used there against a connector. It has no runtime dependency, so a handler
 * that wants only the client does not get google-auth-library.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { connectorSuite } from '../helpers/connector.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const PACKAGE = join(ROOT, 'packages', 'asya-state-client');
const suite = connectorSuite({ bucket: 'client-package', variant: 'cas' });
const version = (JSON.parse(readFileSync(join(PACKAGE, 'package.json'), 'utf8')) as { version: string }).version;

describe('the client-only package', () => {
  it('has no dependencies and packs only its compiled code, README and package.json', () => {
    const manifest = JSON.parse(readFileSync(join(PACKAGE, 'package.json'), 'utf8')) as { version: string; dependencies?: unknown };
    assert.equal(manifest.dependencies, undefined);
    assert.equal(manifest.version, (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    const build = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(PACKAGE, 'tsconfig.json')], { encoding: 'utf8' });
    assert.equal(build.status, 0, build.stdout + build.stderr);
    const packed = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: PACKAGE, encoding: 'utf8' });
    assert.equal(packed.status, 0, packed.stderr);
    const files = (JSON.parse(packed.stdout) as { files: { path: string }[] }[])[0]?.files.map((file) => file.path) ?? [];
    assert.deepEqual([...new Set(files.map((path) => path.split('/')[0]))].sort(), ['README.md', 'dist', 'package.json']);
    assert.ok(files.includes('dist/client/index.js') && files.includes('dist/client/sync-worker.js') && files.includes('dist/backoff.js'));
  });

  it('installs offline into an empty project and talks to the connector there', () => {
    const project = mkdtempSync(join(tmpdir(), 'asya-client-only-'));
    const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', project], { cwd: PACKAGE, encoding: 'utf8' });
    assert.equal(pack.status, 0, pack.stderr);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'handler', version: '1.0.0', type: 'module', private: true }));
    const install = spawnSync('npm', ['install', '--offline', '--no-audit', '--no-fund', `./asya-state-client-${version}.tgz`], { cwd: project, encoding: 'utf8' });
    assert.equal(install.status, 0, install.stderr);
    const installed = spawnSync('npm', ['ls', '--all', '--parseable'], { cwd: project, encoding: 'utf8' });
    assert.deepEqual(installed.stdout.trim().split('\n').map((line) => line.slice(project.length)).filter((line) => line !== ''), ['/node_modules/asya-state-client'], 'nothing but the client is installed');
    writeFileSync(join(project, 'handler.mjs'), `
      import { StateClient } from 'asya-state-client';
      const state = new StateClient({ socketPath: process.argv[2], mountPath: '/state/cache' });
      await state.writeFile('/state/cache/from-package.txt', 'hello');
      process.stdout.write(await state.readFile('/state/cache/from-package.txt', 'utf8'));
      state.close();
    `);
    const run = spawnSync(process.execPath, [join(project, 'handler.mjs'), suite.socketPath], { cwd: project, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, 'hello');
  });
});
