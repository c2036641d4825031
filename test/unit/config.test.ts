import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.ts';

const required = { CONNECTOR_VARIANT: 'cas', CONNECTOR_SOCKET: '/run/s.sock', STATE_BUCKET: 'my-bucket' };

describe('loadConfig', () => {
  it('fills documented defaults', () => {
    const config = loadConfig(required);
    assert.equal(config.variant, 'cas');
    assert.equal(config.prefix, '');
    assert.equal(config.socketMode, 0o666);
    assert.equal(config.presignTtlSeconds, 3600);
    assert.equal(config.uploadChunkBytes, 8 * 1024 * 1024);
    assert.equal(config.maxBodyBytes, 5 * 1024 ** 3);
    assert.equal(config.gcsTimeoutMs, 30_000);
    assert.equal(config.gcsMaxAttempts, 5);
    assert.equal(config.emulatorOrigin, undefined);
    assert.ok(Object.isFrozen(config));
  });

  it('keeps the read cache and the ops port off unless set, with documented defaults when on', () => {
    const off = loadConfig(required);
    assert.equal(off.cache, undefined);
    assert.equal(off.opsPort, undefined);
    const on = loadConfig({ ...required, CONNECTOR_CACHE_DIR: '/cache', CONNECTOR_OPS_PORT: '9464' });
    assert.deepEqual(on.cache, { dir: '/cache', maxBytes: 1024 ** 3, minObjectBytes: 1024 * 1024 });
    assert.equal(on.opsPort, 9464);
    assert.equal(loadConfig({ ...required, CONNECTOR_CACHE_DIR: '/cache', CONNECTOR_CACHE_MAX_BYTES: '4Gi' }).cache?.maxBytes, 4 * 1024 ** 3);
  });

  it('refuses a plain-http GCS_ENDPOINT off this host (the token would travel in clear), and keeps loopback and https', () => {
    for (const endpoint of ['http://10.1.2.3', 'http://storage.example.com:8080', 'http://[fd00::1]']) {
      assert.throws(() => loadConfig({ ...required, GCS_ENDPOINT: endpoint }), (error: unknown) => error instanceof ConfigError && /in clear; use https/.test(error.message), endpoint);
    }
    for (const endpoint of ['http://127.0.0.1:4443', 'http://localhost:9000', 'http://[::1]:8080', 'https://storage-example.p.googleapis.com']) {
      assert.equal(loadConfig({ ...required, GCS_ENDPOINT: endpoint }).endpoint, endpoint.replace(/\/$/, ''), endpoint);
    }
  });

  it('strips slashes around STATE_PREFIX', () => {
    assert.equal(loadConfig({ ...required, STATE_PREFIX: '/models/v2/' }).prefix, 'models/v2');
  });

  it('accepts sizes with binary suffixes and octal modes', () => {
    const config = loadConfig({ ...required, CONNECTOR_UPLOAD_CHUNK: '16Mi', CONNECTOR_MAX_BODY: '2Gi', CONNECTOR_SOCKET_MODE: '0660' });
    assert.equal(config.uploadChunkBytes, 16 * 1024 * 1024);
    assert.equal(config.maxBodyBytes, 2 * 1024 ** 3);
    assert.equal(config.socketMode, 0o660);
  });

  it('reads STORAGE_EMULATOR_HOST with or without a scheme, as Google SDKs do', () => {
    assert.equal(loadConfig({ ...required, STORAGE_EMULATOR_HOST: 'localhost:4443' }).emulatorOrigin, 'http://localhost:4443');
    assert.equal(loadConfig({ ...required, STORAGE_EMULATOR_HOST: 'http://fake-gcs:4443/' }).emulatorOrigin, 'http://fake-gcs:4443');
  });

  it('takes upload chunks only in multiples of 256Ki, GCS\'s resumable unit', () => {
    assert.equal(loadConfig({ ...required, CONNECTOR_UPLOAD_CHUNK: '256Ki' }).uploadChunkBytes, 256 * 1024);
    for (const value of ['300Ki', '100Ki', '512Mi']) {
      assert.throws(() => loadConfig({ ...required, CONNECTOR_UPLOAD_CHUNK: value }), (error: unknown) => error instanceof ConfigError && error.variable === 'CONNECTOR_UPLOAD_CHUNK' && /256Ki/.test(error.message), value);
    }
  });

  it('reads large objects in ranges of 256Ki to 256Mi, 0 to 16 at a time', () => {
    const config = loadConfig(required);
    assert.equal(config.readRangeBytes, 3 * 1024 * 1024);
    assert.equal(config.readStreams, 4);
    assert.equal(loadConfig({ ...required, CONNECTOR_READ_STREAMS: '0' }).readStreams, 0);
    for (const [name, value] of [['CONNECTOR_READ_RANGE', '100Ki'], ['CONNECTOR_READ_RANGE', '1Gi'], ['CONNECTOR_READ_STREAMS', '17']] as const) {
      assert.throws(() => loadConfig({ ...required, [name]: value }), (error: unknown) => error instanceof ConfigError && error.variable === name, `${name}=${value}`);
    }
  });

  it('leaves parallel uploads off by default; their parts folder is no longer configurable', () => {
    assert.equal(loadConfig(required).uploadStreams, 1);
    for (const value of ['0', '17']) {
      assert.throws(() => loadConfig({ ...required, CONNECTOR_UPLOAD_STREAMS: value }), (error: unknown) => error instanceof ConfigError && error.variable === 'CONNECTOR_UPLOAD_STREAMS', value);
    }
    assert.throws(() => loadConfig({ ...required, CONNECTOR_UPLOAD_PARTS_PREFIX: 'x' }),
      (error: unknown) => error instanceof ConfigError && error.variable === 'CONNECTOR_UPLOAD_PARTS_PREFIX' && /\.asya-upload-parts.*remove it/.test(error.message));
  });

  it('refuses to start with an obsolete variable set, naming it, what replaced it, and to remove it', () => {
    const obsolete: Record<string, RegExp> = {
      CONNECTOR_SPILL_THRESHOLD: /CONNECTOR_UPLOAD_CHUNK/,
      CONNECTOR_TMPDIR: /no spool volume/,
      GCS_RESUMABLE_THRESHOLD: /resumable upload/,
    };
    for (const [name, says] of Object.entries(obsolete)) {
      assert.throws(() => loadConfig({ ...required, [name]: '1' }),
        (error: unknown) => error instanceof ConfigError && error.variable === name && says.test(error.message) && /remove it from the environment/.test(error.message), name);
    }
    assert.doesNotThrow(() => loadConfig({ ...required, CONNECTOR_TMPDIR: '' }), 'an empty value is not set');
  });

  it('names the variable in every error', () => {
    const cases: Record<string, string> = {
      STATE_BUCKET: 'UPPER',
      STATE_PREFIX: 'a/../b',
      CONNECTOR_SOCKET: 'x'.repeat(200).replace(/^/, '/'),
      GCS_TIMEOUT_MS: '10',
      STATE_PRESIGN_TTL: '0',
      GOOGLE_APPLICATION_CREDENTIALS: 'key.json',
    };
    for (const [name, value] of Object.entries(cases)) {
      assert.throws(() => loadConfig({ ...required, [name]: value }), (error: unknown) => error instanceof ConfigError && error.variable === name && error.message.startsWith(`${name} must`), name);
    }
  });

  it('accepts dotted bucket names up to 222 characters and refuses "goog" prefixes', () => {
    assert.equal(loadConfig({ ...required, STATE_BUCKET: 'data.example.com' }).bucket, 'data.example.com');
    assert.throws(() => loadConfig({ ...required, STATE_BUCKET: 'google-bucket' }), ConfigError);
    assert.throws(() => loadConfig({ ...required, STATE_BUCKET: 'ab' }), ConfigError);
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
