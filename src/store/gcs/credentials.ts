/**
 * Credentials for GCS: the `Authorization` header for requests and a signer for V4
 * signed URLs, both from Application Default Credentials (Workload Identity, a key file
 * named by GOOGLE_APPLICATION_CREDENTIALS, or the metadata server) via google-auth-library.
 *
 * Against an emulator requests carry no credentials. Signing still uses ADC when any are
 * found (a key file is the usual case in tests), so signed URLs can be checked locally.
 * google-auth-library is loaded only when first needed: an emulator run never pays for it.
 */
import type { GoogleAuth } from 'google-auth-library';
import { PermissionDeniedError, UnavailableError } from '../../errors.ts';

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
}

export interface CredentialsOptions {
  /** True against an emulator: no `Authorization` header is sent. */
  readonly anonymous: boolean;
  readonly project: string | undefined;
  /** A service-account key file; without one, ADC looks further (Workload Identity, metadata server). */
  readonly keyFile: string | undefined;
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

  return {
    async authorization() {
      if (options.anonymous) return undefined;
      try {
        const headers = await (await googleAuth()).getRequestHeaders();
        return headers.get('authorization') ?? undefined;
      } catch (error) {
        throw new UnavailableError(`could not get GCS credentials: ${describe(error)}`, { cause: error });
      }
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

function cannotSign(error: unknown): PermissionDeniedError {
  return new PermissionDeniedError(
    `cannot sign URLs: ${describe(error)}. Signing needs service-account credentials: a key file ` +
      '(GOOGLE_APPLICATION_CREDENTIALS), or with Workload Identity the iam.serviceAccounts.signBlob ' +
      'permission (roles/iam.serviceAccountTokenCreator) on the service account itself',
    { cause: error },
  );
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
