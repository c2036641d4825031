/**
 * `signed_url`: a real V4 signed URL, signed through google-auth-library with a service
 * account key. The test rebuilds the canonical request from the URL by GCS's published
 * algorithm (not with the connector's code), verifies the RSA signature with the key's
 * public half, and fetches the URL from the emulator.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, verify } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startConnector, type Connector, withConnector } from '../helpers/connector.ts';
import { startEmulator, type Emulator } from '../helpers/emulator.ts';
import { request } from '../helpers/socket-http.ts';

const EMAIL = 'state-connector@test-project.iam.gserviceaccount.com';
let emulator: Emulator;
let publicKeyPem: string;
let keyFile: string;

before(async () => {
  emulator = await startEmulator();
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  keyFile = join(mkdtempSync(join(tmpdir(), 'asya-sa-')), 'key.json');
  writeFileSync(keyFile, JSON.stringify({
    type: 'service_account',
    project_id: 'test-project',
    private_key_id: 'test-key',
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    client_email: EMAIL,
    client_id: '1',
    token_uri: 'http://127.0.0.1:9/token',
  }));
});
after(async () => { await emulator.stop(); });

/** RFC 3986 encoding as GCS's V4 algorithm asks for it. */
function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

describe('signed_url', () => {
  const bucket = 'signed-urls';
  let connector: Connector;

  before(async () => {
    await emulator.createBucket(bucket);
    connector = await startConnector({
      emulatorOrigin: emulator.origin,
      bucket,
      variant: 'cas',
      env: { STATE_PREFIX: 'tenant a', GOOGLE_APPLICATION_CREDENTIALS: keyFile, STATE_PRESIGN_TTL: '900' },
      settings: { logLevel: 'debug' },
    });
  });
  after(async () => { await connector.stop(); });

  it('is a V4 URL whose signature verifies with the service account key and that serves the object', async () => {
    const key = 'reports/q3 summary (final).json';
    const encodedKey = key.split('/').map(encodeURIComponent).join('/');
    assert.equal((await request(connector.socketPath, `/keys/${encodedKey}`, { method: 'PUT', body: '{"ok":true}' })).status, 204);
    const res = await request(connector.socketPath, `/meta/${encodedKey}?attr=signed_url`);
    assert.equal(res.status, 200, res.text());
    const url = new URL(String(res.json().value));

    const params = url.searchParams;
    assert.equal(params.get('X-Goog-Algorithm'), 'GOOG4-RSA-SHA256');
    assert.equal(params.get('X-Goog-Expires'), '900');
    assert.equal(params.get('X-Goog-SignedHeaders'), 'host');
    const datetime = params.get('X-Goog-Date') ?? '';
    assert.match(datetime, /^\d{8}T\d{6}Z$/);
    assert.equal(params.get('X-Goog-Credential'), `${EMAIL}/${datetime.slice(0, 8)}/auto/storage/goog4_request`);

    const objectName = `tenant a/${key}`;
    const expectedPath = `/${bucket}/${objectName.split('/').map(rfc3986).join('/')}`;
    assert.equal(url.pathname, expectedPath);

    const query = [...params.entries()]
      .filter(([name]) => name !== 'X-Goog-Signature')
      .map(([name, value]) => `${rfc3986(name)}=${rfc3986(value)}`)
      .sort()
      .join('&');
    const canonical = ['GET', expectedPath, query, `host:${url.host}`, '', 'host', 'UNSIGNED-PAYLOAD'].join('\n');
    const stringToSign = [
      'GOOG4-RSA-SHA256', datetime, `${datetime.slice(0, 8)}/auto/storage/goog4_request`,
      createHash('sha256').update(canonical).digest('hex'),
    ].join('\n');
    const signature = Buffer.from(params.get('X-Goog-Signature') ?? '', 'hex');
    assert.ok(verify('RSA-SHA256', Buffer.from(stringToSign), publicKeyPem, signature), 'the signature verifies');

    const fetched = await fetch(url);
    assert.equal(fetched.status, 200);
    assert.equal(await fetched.text(), '{"ok":true}');

    const log = connector.output.join('\n');
    assert.ok(!log.includes('PRIVATE KEY'), 'no key material in the logs');
    assert.ok(!log.includes(params.get('X-Goog-Signature') ?? '-'), 'no signed URL (a bearer credential) in the logs');
    assert.ok(!log.includes('{"ok":true}'), 'no object contents in the logs');
  });

  it('of a missing key is 404', async () => {
    assert.equal((await request(connector.socketPath, '/meta/nothing?attr=signed_url')).status, 404);
  });
});

describe('signed_url without credentials that can sign', () => {
  it('answers 403 permission_denied with what to configure', async () => {
    const bucket = 'signed-urls-nocreds';
    await emulator.createBucket(bucket);
    await withConnector(emulator, { bucket, variant: 'lww' }, async (connector) => {
      await request(connector.socketPath, '/keys/x', { method: 'PUT', body: 'x' });
      const res = await request(connector.socketPath, '/meta/x?attr=signed_url');
      assert.equal(res.status, 403);
      assert.equal(res.json().error, 'permission_denied');
      assert.match(String(res.json().message), /GOOGLE_APPLICATION_CREDENTIALS/);
    });
  });
});
