/**
 * The container images without a Docker engine (none runs on CI machines): hadolint on
 * docker/Dockerfile, then the Dockerfile's own build step and start command, read from
 * the file and run outside Docker, and the connector they produce answering for each
 * image target.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { START_FLAGS, startConnector } from '../helpers/connector.ts';
import { startEmulator, type Emulator } from '../helpers/emulator.ts';
import { request } from '../helpers/socket-http.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const DOCKERFILE = join(ROOT, 'docker', 'Dockerfile');

interface Stage { name: string; from: string; lines: string[] }

/** The Dockerfile's stages, with continuation lines joined and comments dropped. */
function stages(): Stage[] {
  const text = readFileSync(DOCKERFILE, 'utf8').replace(/\\\n/g, ' ');
  const found: Stage[] = [];
  for (const line of text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))) {
    const from = /^FROM\s+(\S+)\s+AS\s+(\S+)$/i.exec(line);
    if (from?.[1] !== undefined && from[2] !== undefined) found.push({ name: from[2], from: from[1], lines: [] });
    else found.at(-1)?.lines.push(line);
  }
  return found;
}

const stage = (name: string): Stage => {
  const found = stages().find((s) => s.name === name);
  assert.ok(found, `docker/Dockerfile has a stage named ${name}`);
  return found;
};

describe('docker/Dockerfile', () => {
  it('passes hadolint (or says why hadolint cannot run here)', (t) => {
    const install = spawnSync('bash', [join(ROOT, 'scripts', 'ensure-hadolint.sh')], { encoding: 'utf8' });
    if (install.status !== 0) {
      t.skip(`hadolint cannot run here: ${install.stderr.trim()}`);
      return;
    }
    const lint = spawnSync(install.stdout.trim().split('\n').at(-1) ?? 'hadolint', ['--no-color', DOCKERFILE], { encoding: 'utf8' });
    assert.equal(lint.status, 0, `hadolint findings:\n${lint.stdout}${lint.stderr}`);
  });

  it('has one target per variant, each starting npm start\'s flags with its variant as the argument, with OCI labels naming it and the package version, non-root, on Node 24', () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    for (const [target, variant] of [['gcs-buffered-lww', 'lww'], ['gcs-buffered-cas', 'cas']] as const) {
      const s = stage(target);
      assert.equal(s.from, 'runtime');
      assert.equal(s.lines[0], `CMD ${JSON.stringify([...START_FLAGS, 'dist/connector.js', variant]).replace(/","/g, '", "')}`);
      const labels = s.lines.slice(1).join(' ');
      assert.match(labels, new RegExp(`org\\.opencontainers\\.image\\.title="${target}"`));
      assert.match(labels, new RegExp(`org\\.opencontainers\\.image\\.version="${version.replace(/\./g, '\\.')}"`));
      assert.match(labels, /org\.opencontainers\.image\.licenses="Apache-2\.0"/);
    }
    const runtime = stage('runtime');
    assert.match(runtime.from, /nodejs24/);
    assert.ok(runtime.lines.includes('USER 65532:65532'), 'runs as a numeric non-root user');
    assert.match(stage('build').from, /^node:24/);
  });
});

describe('the image build and start steps, run outside Docker', () => {
  let emulator: Emulator;
  let runtimeDir: string;

  before(async () => {
    emulator = await startEmulator();
    await emulator.createBucket('image-build');

    // Build stage: copy what it copies, run what it runs.
    const build = stage('build');
    const buildDir = mkdtempSync(join(tmpdir(), 'asya-image-build-'));
    for (const line of build.lines.filter((l) => l.startsWith('COPY '))) {
      const parts = line.split(/\s+/).slice(1).filter((p) => !p.startsWith('--'));
      const destination = parts.pop() ?? '.';
      for (const source of parts) cpSync(join(ROOT, source), join(buildDir, destination.endsWith('/') || parts.length > 1 ? join(destination, source) : destination), { recursive: true });
    }
    for (const line of build.lines.filter((l) => l.startsWith('RUN '))) {
      const run = spawnSync('bash', ['-c', line.slice(4)], {
        cwd: buildDir,
        encoding: 'utf8',
        // The image's Node is 24; so is the one running this test.
        env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
      });
      assert.equal(run.status, 0, `RUN ${line.slice(4)}\n${run.stdout}${run.stderr}`);
    }

    // Runtime stage: copy what it takes from the build stage.
    const runtime = stage('runtime');
    runtimeDir = mkdtempSync(join(tmpdir(), 'asya-image-runtime-'));
    for (const line of runtime.lines.filter((l) => l.startsWith('COPY --from=build'))) {
      const parts = line.split(/\s+/).filter((p) => !p.startsWith('--')).slice(1);
      const [source = '', destination = ''] = parts;
      const target = destination === './' ? join(runtimeDir, source.replace(/^\/app\//, '')) : join(runtimeDir, destination);
      cpSync(join(buildDir, source.replace(/^\/app\//, '')), target, { recursive: true });
    }
  });
  after(async () => { await emulator.stop(); });

  it('keeps production dependencies only, and reports the size it adds to the base image', () => {
    for (const dev of ['typescript', 'eslint', 'node', '@types/node', 'undici', 'esbuild']) {
      assert.equal(existsSync(join(runtimeDir, 'node_modules', dev)), false, `${dev} is not in the image`);
    }
    for (const needed of ['google-auth-library']) assert.ok(existsSync(join(runtimeDir, 'node_modules', needed)), `${needed} is in the image`);
    const du = spawnSync('du', ['-sk', join(runtimeDir, 'node_modules'), join(runtimeDir, 'dist')], { encoding: 'utf8' });
    const [modules = 0, dist = 0] = du.stdout.trim().split('\n').map((l) => Number(l.split('\t')[0]));
    console.log(`# image layers of ours: node_modules ${(modules / 1024).toFixed(1)} MiB + dist ${(dist / 1024).toFixed(1)} MiB, on the distroless nodejs24 base`);
    assert.ok(modules > 0 && dist > 0);
  });

  for (const [target, variant] of [['gcs-buffered-lww', 'lww'], ['gcs-buffered-cas', 'cas']] as const) {
    it(`the ${target} target's start command serves the ${variant} variant`, async () => {
      const env = Object.fromEntries(stage(target).lines.concat(stage('runtime').lines)
        .filter((l) => l.startsWith('ENV '))
        .map((l) => l.slice(4).split('=') as [string, string]));
      const cmd = stage(target).lines.find((l) => l.startsWith('CMD '));
      assert.ok(cmd, `the ${target} target has a CMD`);
      const command = JSON.parse(cmd.slice(4)) as string[];
      // The helper passes the variant itself, last, as the CMD does.
      assert.equal(command.pop(), variant);
      const connector = await startConnector({
        emulatorOrigin: emulator.origin,
        bucket: 'image-build',
        variant,
        env,
        args: command.map((arg) => (arg.endsWith('.js') ? join(runtimeDir, arg) : arg)),
      });
      try {
        assert.ok(connector.output.some((line) => line.includes('"message":"serving"') && line.includes(`"variant":"${variant}"`)));
        assert.equal((await request(connector.socketPath, '/healthz')).status, 200);
        assert.equal((await request(connector.socketPath, `/keys/${variant}/k`, { method: 'PUT', body: 'from the image' })).status, 204);
        assert.equal((await request(connector.socketPath, `/keys/${variant}/k`)).text(), 'from the image');
      } finally {
        assert.equal(await connector.stop(), 0);
      }
    });
  }
});
