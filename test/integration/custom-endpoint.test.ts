/**
 * GCS_ENDPOINT: GCS at a custom origin (Private Service Connect, a restricted VIP) with
 * real credentials. Here the credentials come from a metadata-server stand-in
 * (GCE_METADATA_HOST, as on GKE with Workload Identity) and "GCS" is fake-gcs-server
 * behind the fault proxy, which records what each request carried.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runToExit, connectorEnv, START_ARGS, startConnector, type Connector } from '../helpers/connector.ts';
import { startEmulator, type Emulator } from '../helpers/emulator.ts';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { request } from '../helpers/socket-http.ts';

const TOKEN = 'ya29.metadata-stand-in-token';
const bucket = 'custom-endpoint';

/** Answers the metadata server's token, e-mail and project the way GKE's does. */
async function startMetadataServer(): Promise<{ host: string; tokenRequests: () => number; close: () => void }> {
  let tokenRequests = 0;
  const server: Server = createServer((req, res) => {
    if (req.headers['metadata-flavor'] !== 'Google') {
      res.writeHead(403).end('Missing Metadata-Flavor:Google header');
      return;
    }
    const path = (req.url ?? '').split('?')[0] ?? '';
    const send = (type: string, body: string): void => { res.writeHead(200, { 'metadata-flavor': 'Google', 'content-type': type }).end(body); };
    if (path === '/computeMetadata/v1/instance/service-accounts/default/token') {
      tokenRequests++;
      send('application/json', JSON.stringify({ access_token: TOKEN, expires_in: 3599, token_type: 'Bearer' }));
    } else if (path === '/computeMetadata/v1/instance/service-accounts/default/email') send('text/plain', 'connector@test-project.iam.gserviceaccount.com');
    else if (path === '/computeMetadata/v1/project/project-id') send('text/plain', 'test-project');
    else if (path === '/computeMetadata/v1/instance' || path === '/computeMetadata/v1/') send('text/plain', '');
    else res.writeHead(404, { 'metadata-flavor': 'Google' }).end('not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { host: `127.0.0.1:${port}`, tokenRequests: () => tokenRequests, close: () => { server.close(); } };
}

describe('GCS_ENDPOINT with credentials from the metadata server', () => {
  let emulator: Emulator;
  let proxy: FaultProxy;
  let metadata: Awaited<ReturnType<typeof startMetadataServer>>;
  let connector: Connector;
  let env: Record<string, string>;

  before(async () => {
    emulator = await startEmulator();
    await emulator.createBucket(bucket);
    proxy = await startFaultProxy(emulator.origin);
    metadata = await startMetadataServer();
    env = {
      STORAGE_EMULATOR_HOST: '',
      GCS_ENDPOINT: proxy.origin,
      GCE_METADATA_HOST: metadata.host,
      METADATA_SERVER_DETECTION: 'assume-present',
      // No gcloud credentials file to find before the metadata server.
      HOME: mkdtempSync(join(tmpdir(), 'asya-no-gcloud-')),
    };
    connector = await startConnector({ emulatorOrigin: '', bucket, variant: 'cas', env, args: ['--import', join(import.meta.dirname, '..', 'helpers', 'report-module-loads.ts'), ...START_ARGS] });
  });
  after(async () => {
    await connector.stop();
    metadata.close();
    await proxy.close();
    await emulator.stop();
  });

  it('every request goes to the endpoint with the metadata server\'s token', async () => {
    assert.equal((await request(connector.socketPath, '/keys/k', { method: 'PUT', body: 'through the endpoint' })).status, 204);
    assert.equal((await request(connector.socketPath, '/keys/k')).text(), 'through the endpoint');
    assert.ok(proxy.seenRequests.length >= 3, 'the bucket check, the write and the read reached the endpoint');
    for (const seen of proxy.seenRequests) assert.equal(seen.headers.authorization, `Bearer ${TOKEN}`, `${seen.method} ${seen.url}`);
    assert.ok(metadata.tokenRequests() >= 1);
  });

  it('the token comes from the metadata server without loading google-auth-library; signing a URL is what loads it', async () => {
    const loads = (): string[] => connector.output.filter((line) => line.startsWith('module-load: google-auth-library'));
    assert.equal((await request(connector.socketPath, '/keys/k')).status, 200);
    assert.deepEqual(loads(), [], 'serving reads and writes never loaded google-auth-library');
    // The stand-in has no IAM signBlob, so the signature fails; what matters is what got loaded.
    await request(connector.socketPath, '/meta/k?attr=signed_url');
    assert.notDeepEqual(loads(), [], 'the hook does see google-auth-library when it loads');
  });

  it('the start-up line names the endpoint', () => {
    const serving = connector.output.find((line) => line.includes('"message":"serving"')) ?? '';
    assert.equal((JSON.parse(serving) as { endpoint: string }).endpoint, proxy.origin);
  });

  it('GCS_ENDPOINT together with STORAGE_EMULATOR_HOST is a configuration error naming both', async () => {
    const result = await runToExit({ ...connectorEnv({ emulatorOrigin: emulator.origin, bucket, variant: 'lww' }, join(tmpdir(), 'unused.sock')), GCS_ENDPOINT: proxy.origin });
    assert.equal(result.code, 78);
    assert.match(result.stderr, /GCS_ENDPOINT and STORAGE_EMULATOR_HOST are both set/);
  });
});
