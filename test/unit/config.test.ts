import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, FIXED_SETTINGS, loadConfig } from '../../src/config.ts';

const required = { CONNECTOR_SOCKET: '/run/s.sock', STATE_BUCKET: 'my-bucket' };
const MIB = 1024 * 1024;

/** The configuration of the cas image with `env` on top of the required variables. */
function load(env: Record<string, string> = {}): ReturnType<typeof loadConfig> {
  return loadConfig({ ...required, ...env }, 'cas');
}

function refuses(env: Record<string, string>, variable: string, says: RegExp): void {
  assert.throws(() => load(env), (error: unknown) => error instanceof ConfigError && error.variable === variable && says.test(error.message), JSON.stringify(env));
}

describe('loadConfig', () => {
  it('fills documented defaults and the fixed settings', () => {
    const config = load();
    assert.equal(config.variant, 'cas');
    assert.equal(config.prefix, '');
    assert.equal(config.presignTtlSeconds, 3600);
    assert.equal(config.maxBodyBytes, 5 * 1024 ** 3);
    assert.equal(config.memoryBudgetBytes, undefined);
    assert.equal(config.emulatorOrigin, undefined);
    for (const [name, value] of Object.entries(FIXED_SETTINGS)) assert.equal(config[name as keyof typeof FIXED_SETTINGS], value, name);
    assert.ok(Object.isFrozen(config));
  });

  it('takes the variant from the first argument only', () => {
    assert.equal(loadConfig(required, 'lww').variant, 'lww');
    for (const variant of [undefined, 'LWW', 'cas2']) {
      assert.throws(() => loadConfig(required, variant), (error: unknown) => error instanceof ConfigError && /first argument/.test(error.message), String(variant));
    }
  });

  it('keeps the read cache and the ops port off unless set', () => {
    assert.equal(load().cache, undefined);
    assert.equal(load().opsPort, undefined);
  });

  it('reads CONNECTOR_CACHE as a directory with an optional size', () => {
    assert.deepEqual(load({ CONNECTOR_CACHE: '/cache' }).cache, { dir: '/cache', maxBytes: 1024 ** 3, minObjectBytes: MIB });
    assert.equal(load({ CONNECTOR_CACHE: '/var/cache/asya:4Gi' }).cache?.maxBytes, 4 * 1024 ** 3);
    assert.equal(load({ CONNECTOR_CACHE: '/var/cache/asya:4Gi' }).cache?.dir, '/var/cache/asya');
    for (const value of ['cache', '/cache:lots', '/cache:100Ki', 'relative:1Gi']) refuses({ CONNECTOR_CACHE: value }, 'CONNECTOR_CACHE', /absolute directory.*:2Gi/);
  });

  it('reads CONNECTOR_OPS_PORT as a port with an optional address to bind', () => {
    assert.deepEqual([load({ CONNECTOR_OPS_PORT: '9464' }).opsPort, load({ CONNECTOR_OPS_PORT: '9464' }).opsHost], [9464, undefined]);
    assert.deepEqual([load({ CONNECTOR_OPS_PORT: '127.0.0.1:9465' }).opsPort, load({ CONNECTOR_OPS_PORT: '127.0.0.1:9465' }).opsHost], [9465, '127.0.0.1']);
    assert.equal(load({ CONNECTOR_OPS_PORT: '[::1]:9464' }).opsHost, '::1');
    for (const value of ['0', '65536', 'localhost:9464', ':9464', '9464:', 'x']) refuses({ CONNECTOR_OPS_PORT: value }, 'CONNECTOR_OPS_PORT', /TCP port.*127\.0\.0\.1:9464/);
  });

  it('strips slashes around STATE_PREFIX', () => {
    assert.equal(load({ STATE_PREFIX: '/models/v2/' }).prefix, 'models/v2');
  });

  it('accepts sizes with binary suffixes', () => {
    assert.equal(load({ CONNECTOR_MAX_BODY: '2Gi' }).maxBodyBytes, 2 * 1024 ** 3);
    assert.equal(load({ CONNECTOR_MEMORY_BUDGET: '24Mi' }).memoryBudgetBytes, 24 * MIB);
    refuses({ CONNECTOR_MEMORY_BUDGET: '4Mi' }, 'CONNECTOR_MEMORY_BUDGET', /at least 8388608/);
  });

  it('reads STORAGE_EMULATOR_HOST with or without a scheme, as Google SDKs do', () => {
    assert.equal(load({ STORAGE_EMULATOR_HOST: 'localhost:4443' }).emulatorOrigin, 'http://localhost:4443');
    assert.equal(load({ STORAGE_EMULATOR_HOST: 'http://fake-gcs:4443/' }).emulatorOrigin, 'http://fake-gcs:4443');
  });

  it('refuses to start with a variable it no longer reads, naming it, what became of it, and to remove it', () => {
    const obsolete: Record<string, RegExp> = {
      CONNECTOR_VARIANT: /first argument/,
      CONNECTOR_CACHE_DIR: /renamed CONNECTOR_CACHE/,
      CONNECTOR_CACHE_MAX_BYTES: /part of CONNECTOR_CACHE/,
      CONNECTOR_OPS_HOST: /part of CONNECTOR_OPS_PORT/,
      CONNECTOR_UPLOAD_STREAMS: /parallel uploads were removed/,
      CONNECTOR_CAS_MEMORY_KEYS: /raise CONNECTOR_MEMORY_BUDGET/,
      GCS_ENDPOINT: /private DNS zone/,
      GCS_TIMEOUT_MS: /fixed setting/,
      CONNECTOR_LOG_LEVEL: /fixed setting/,
      CONNECTOR_SPILL_THRESHOLD: /no longer spooled/,
      CONNECTOR_TMPDIR: /no spool volume/,
      GCS_RESUMABLE_THRESHOLD: /resumable upload/,
    };
    for (const [name, says] of Object.entries(obsolete)) refuses({ [name]: '1' }, name, new RegExp(`${says.source}.*remove it from the environment`));
    assert.doesNotThrow(() => load({ CONNECTOR_TMPDIR: '' }), 'an empty value is not set');
  });

  it('names the variable in every error', () => {
    const cases: Record<string, string> = {
      STATE_BUCKET: 'UPPER',
      STATE_PREFIX: 'a/../b',
      CONNECTOR_SOCKET: 'x'.repeat(200).replace(/^/, '/'),
      STATE_PRESIGN_TTL: '0',
      CONNECTOR_MAX_BODY: 'big',
      GOOGLE_APPLICATION_CREDENTIALS: 'key.json',
    };
    for (const [name, value] of Object.entries(cases)) refuses({ [name]: value }, name, new RegExp(`^${name} must`));
  });

  it('accepts dotted bucket names up to 222 characters and refuses "goog" prefixes', () => {
    assert.equal(load({ STATE_BUCKET: 'data.example.com' }).bucket, 'data.example.com');
    assert.throws(() => load({ STATE_BUCKET: 'google-bucket' }), ConfigError);
    assert.throws(() => load({ STATE_BUCKET: 'ab' }), ConfigError);
  });
});

describe('version', () => {
  it('the version in build info is package.json\'s', async () => {
    const { VERSION } = await import('../../src/version.ts');
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.equal(VERSION, pkg.version);
  });
});
