/**
 * GCS_ENDPOINT: GCS at a custom origin (Private Service Connect, a restricted VIP) with
 * real credentials. Here the credentials come from a metadata-server stand-in
 * (GCE_METADATA_HOST, as on GKE with Workload Identity) and "GCS" is fake-gcs-server
 * behind the fault proxy, which records what each request carried.
 */
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runToExit, connectorEnv, START_ARGS, startConnector, type Connector } from '../helpers/connector.ts';
import { startEmulator, type Emulator } from '../helpers/emulator.ts';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { METADATA_TOKEN, productionEnv, startMetadataServer, type MetadataServer } from '../helpers/metadata-server.ts';
import { request } from '../helpers/socket-http.ts';

const bucket = 'custom-endpoint';

describe('GCS_ENDPOINT with credentials from the metadata server', () => {
  let emulator: Emulator;
  let proxy: FaultProxy;
  let metadata: MetadataServer;
  let connector: Connector;
  let env: Record<string, string>;

  before(async () => {
    emulator = await startEmulator();
    await emulator.createBucket(bucket);
    proxy = await startFaultProxy(emulator.origin);
    metadata = await startMetadataServer();
    env = productionEnv(proxy.origin, metadata);
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
    for (const seen of proxy.seenRequests) assert.equal(seen.headers.authorization, `Bearer ${METADATA_TOKEN}`, `${seen.method} ${seen.url}`);
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
