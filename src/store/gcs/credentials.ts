/**
 * Credentials for GCS: the `Authorization` header for requests and a signer for V4
 * signed URLs, from Application Default Credentials, in ADC's order: a key file or
 * external account named by GOOGLE_APPLICATION_CREDENTIALS, then gcloud's
 * application-default file, then the metadata server (Workload Identity on GKE, GCE).
 *
 * The metadata server, what production pods use, is asked directly (metadata-token.ts);
 * google-auth-library is loaded only for the sources that need it (the two files) and to
 * sign a URL (a key file signs locally; otherwise it calls IAM signBlob). Against an
 * emulator requests carry no credentials, and signing needs a key file.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { GoogleAuth } from 'google-auth-library';
import { StoreError } from '../store-error.ts';
import { MetadataTokenSource } from './metadata-token.ts';

const SCOPE = 'https://www.googleapis.com/auth/devstorage.read_write';

/** Signs bytes as a service account, for V4 signed URLs. */
export interface BlobSigner {
  /** The service account's e-mail, the credential named in the signed URL. */
  email(): Promise<string>;
  /** RSA-SHA256 signature of `data`. */
  sign(data: string): Promise<Buffer>;
}

export interface Credentials extends BlobSigner {
  /** The `Authorization` header value for a request, or undefined when none is sent. */
  authorization(): Promise<string | undefined>;
  /** GCS refused `authorization` (401): the next request fetches a fresh token instead of sending it again. */
  refused(authorization: string): void;
}

export interface CredentialsOptions {
  /** True against an emulator: no `Authorization` header is sent. */
  readonly anonymous: boolean;
  readonly project: string | undefined;
  /** A service-account key file; without one, ADC looks further (Workload Identity, metadata server). */
  readonly keyFile: string | undefined;
  /** `host[:port]` of the metadata server (GCE_METADATA_HOST). */
  readonly metadataHost: string;
}

/** Where the credentials come from: which one decides whether google-auth-library loads. */
export type CredentialSource = 'none' | 'google-auth-library' | 'metadata-server';

/** ADC's order: a key file, gcloud's application-default file, else the metadata server. */
export function credentialSource(options: CredentialsOptions, env: NodeJS.ProcessEnv = process.env): CredentialSource {
  if (options.anonymous) return 'none';
  if (options.keyFile !== undefined) return 'google-auth-library';
  const gcloudConfig = env.CLOUDSDK_CONFIG ?? join(env.HOME ?? homedir(), '.config', 'gcloud');
  return existsSync(join(gcloudConfig, 'application_default_credentials.json')) ? 'google-auth-library' : 'metadata-server';
}

/** Application Default Credentials, resolved lazily on first use. */
export function createCredentials(options: CredentialsOptions): Credentials {
  let auth: Promise<GoogleAuth> | undefined;
  const googleAuth = (): Promise<GoogleAuth> => {
    auth ??= import('google-auth-library').then(({ GoogleAuth: Auth }) => new Auth({
      scopes: [SCOPE],
      ...(options.project === undefined ? {} : { projectId: options.project }),
      ...(options.keyFile === undefined ? {} : { keyFilename: options.keyFile }),
    }));
    return auth;
  };
  // Against an emulator only a key file can sign: looking further would mean asking a
  // metadata server that a local or CI machine does not have.
  const signingAuth = async (): Promise<GoogleAuth> => {
    if (options.anonymous && options.keyFile === undefined) {
      throw new Error('against an emulator, signing needs GOOGLE_APPLICATION_CREDENTIALS naming a service account key file');
    }
    return googleAuth();
  };

  const source = credentialSource(options);
  const metadata = source === 'metadata-server' ? new MetadataTokenSource({ host: options.metadataHost }) : undefined;

  return {
    async authorization() {
      if (source === 'none') return undefined;
      try {
        if (metadata !== undefined) return await metadata.authorization();
        const headers = await (await googleAuth()).getRequestHeaders();
        return headers.get('authorization') ?? undefined;
      } catch (error) {
        throw new StoreError('unavailable', `could not get GCS credentials: ${describe(error)}`, { cause: error });
      }
    },
    // google-auth-library refreshes its own tokens by their expiry; the metadata source is ours.
    refused(authorization) {
      metadata?.forget(authorization);
    },
    async email() {
      try {
        const credentials = await (await signingAuth()).getCredentials();
        if (credentials.client_email !== undefined) return credentials.client_email;
      } catch (error) {
        throw cannotSign(error);
      }
      throw cannotSign(new Error('the credentials name no service account e-mail'));
    },
    async sign(data) {
      try {
        return Buffer.from(await (await signingAuth()).sign(data), 'base64');
      } catch (error) {
        throw cannotSign(error);
      }
    },
  };
}

function cannotSign(error: unknown): StoreError {
  return new StoreError('denied',
    `cannot sign URLs: ${describe(error)}. Signing needs service-account credentials: a key file ` +
      '(GOOGLE_APPLICATION_CREDENTIALS), or with Workload Identity the iam.serviceAccounts.signBlob ' +
      'permission (roles/iam.serviceAccountTokenCreator) on the service account itself',
    { cause: error },
  );
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
