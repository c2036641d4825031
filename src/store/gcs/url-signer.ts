/**
 * V4 signed URLs (GOOG4-RSA-SHA256) for reading one object, signed by the credentials'
 * signer: canonical request → string to sign → RSA-SHA256 signature, hex-encoded.
 */
import { createHash } from 'node:crypto';
import type { BlobSigner } from './credentials.ts';

export interface SignedUrlRequest {
  /** Where the URL points: `https://storage.googleapis.com`, or an emulator origin. */
  readonly origin: string;
  readonly bucket: string;
  readonly object: string;
  readonly ttlSeconds: number;
  readonly now: Date;
}

const ALGORITHM = 'GOOG4-RSA-SHA256';

/** RFC 3986 percent-encoding: everything but unreserved characters. */
export function encodeRfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The parts a signed URL is made of, before signing. */
function canonicalParts(request: SignedUrlRequest, email: string): { path: string; query: string; stringToSign: string } {
  const datetime = request.now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const date = datetime.slice(0, 8);
  const scope = `${date}/auto/storage/goog4_request`;
  const host = new URL(request.origin).host;
  const path = `/${encodeRfc3986(request.bucket)}/${request.object.split('/').map(encodeRfc3986).join('/')}`;
  const params: [string, string][] = [
    ['X-Goog-Algorithm', ALGORITHM],
    ['X-Goog-Credential', `${email}/${scope}`],
    ['X-Goog-Date', datetime],
    ['X-Goog-Expires', String(request.ttlSeconds)],
    ['X-Goog-SignedHeaders', 'host'],
  ];
  const query = params
    .map(([name, value]) => `${encodeRfc3986(name)}=${encodeRfc3986(value)}`)
    .sort()
    .join('&');
  const canonicalRequest = ['GET', path, query, `host:${host}\n`, 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const hash = createHash('sha256').update(canonicalRequest).digest('hex');
  return { path, query, stringToSign: [ALGORITHM, datetime, scope, hash].join('\n') };
}

/** Builds and signs a URL that allows a GET of the object until `now + ttlSeconds`. */
export async function signReadUrl(request: SignedUrlRequest, signer: BlobSigner): Promise<string> {
  const email = await signer.email();
  const { path, query, stringToSign } = canonicalParts(request, email);
  const signature = (await signer.sign(stringToSign)).toString('hex');
  return `${request.origin}${path}?${query}&X-Goog-Signature=${signature}`;
}
