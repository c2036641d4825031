/**
 * A stand-in for the GCE/GKE metadata server (GCE_METADATA_HOST): the token, e-mail and
 * project answered the way GKE's Workload Identity server does. Used by the tests of
 * production-mode credentials and by the benchmark's production-mode memory figure.
 */
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const METADATA_TOKEN = 'ya29.metadata-stand-in-token';

export interface MetadataServer {
  /** host:port, as GCE_METADATA_HOST takes it. */
  readonly host: string;
  tokenRequests(): number;
  close(): void;
}

export async function startMetadataServer(): Promise<MetadataServer> {
  let tokenRequests = 0;
  const server = createServer((req, res) => {
    if (req.headers['metadata-flavor'] !== 'Google') {
      res.writeHead(403).end('Missing Metadata-Flavor:Google header');
      return;
    }
    const path = (req.url ?? '').split('?')[0] ?? '';
    const send = (type: string, body: string): void => { res.writeHead(200, { 'metadata-flavor': 'Google', 'content-type': type }).end(body); };
    if (path === '/computeMetadata/v1/instance/service-accounts/default/token') {
      tokenRequests++;
      send('application/json', JSON.stringify({ access_token: METADATA_TOKEN, expires_in: 3599, token_type: 'Bearer' }));
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

/**
 * A connector in production mode: no emulator, credentials from `metadata`, and the GCS
 * API (a fixed setting) at `endpoint` instead of storage.googleapis.com.
 */
export function productionMode(endpoint: string, metadata: MetadataServer): { env: Record<string, string>; settings: { apiOrigin: string } } {
  return {
    env: {
      STORAGE_EMULATOR_HOST: '',
      GCE_METADATA_HOST: metadata.host,
      METADATA_SERVER_DETECTION: 'assume-present',
      // No gcloud credentials file to find before the metadata server.
      HOME: mkdtempSync(join(tmpdir(), 'asya-no-gcloud-')),
    },
    settings: { apiOrigin: endpoint },
  };
}
