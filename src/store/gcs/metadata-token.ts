/**
 * Access tokens from the GCE/GKE metadata server (on GKE with Workload Identity, the GKE
 * metadata server hands out the bound service account's tokens), without
 * google-auth-library: loading that library costs the process a sizeable share of the
 * pod's memory request, for a protocol of one GET.
 *
 * A token is fetched on first use and again before it expires (5 minutes before, or half
 * its lifetime when that is shorter), one fetch at a time however many requests wait.
 * Every answer must carry `Metadata-Flavor: Google`, so that nothing else listening on
 * that address can hand out tokens, and must come whole within ANSWER_TIMEOUT_MS: a
 * server that drips its answer cannot hold a request (or `/readyz`) past that. A token
 * GCS refuses (401) is forgotten, so the next request fetches another.
 */
import { request } from '../../node-http.ts';
import { readToEnd } from '../../read-to-end.ts';

const TOKEN_PATH = '/computeMetadata/v1/instance/service-accounts/default/token';
const REFRESH_AHEAD_MS = 5 * 60 * 1000;
/** Longest wait for the metadata server's whole answer; it answers in milliseconds when it is there. */
const ANSWER_TIMEOUT_MS = 3_000;
const MAX_ANSWER_BYTES = 64 * 1024;
/** GCE tokens live an hour; a day is past anything the metadata server hands out. */
const MAX_LIFETIME_SECONDS = 24 * 3600;

export interface MetadataTokenOptions {
  /** `host[:port]` of the metadata server. */
  readonly host: string;
  /** The clock, for tests. */
  readonly now?: () => number;
}

interface Token {
  readonly value: string;
  /** When to fetch the next one, epoch ms. */
  readonly refreshAt: number;
}

export class MetadataTokenSource {
  readonly #host: string;
  readonly #now: () => number;
  #token: Token | undefined;
  #fetching: Promise<Token> | undefined;

  constructor(options: MetadataTokenOptions) {
    this.#host = options.host;
    this.#now = options.now ?? Date.now;
  }

  /** Drops the token behind `authorization` when it is still the current one (GCS refused it). */
  forget(authorization: string): void {
    if (this.#token !== undefined && authorization === `Bearer ${this.#token.value}`) this.#token = undefined;
  }

  /** `Bearer <token>`, fetched or refreshed when needed. Throws with what the metadata server said. */
  async authorization(): Promise<string> {
    const current = this.#token;
    if (current !== undefined && this.#now() < current.refreshAt) return `Bearer ${current.value}`;
    this.#fetching ??= this.#fetch().finally(() => { this.#fetching = undefined; });
    const token = await this.#fetching;
    return `Bearer ${token.value}`;
  }

  async #fetch(): Promise<Token> {
    const fetchedAt = this.#now();
    const body = await metadataGet(this.#host, TOKEN_PATH);
    let parsed: { access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      throw new Error(`the metadata server at ${this.#host} answered a token request with something that is not JSON`);
    }
    if (typeof parsed.access_token !== 'string' || parsed.access_token === '' || typeof parsed.expires_in !== 'number') {
      throw new Error(`the metadata server at ${this.#host} answered a token request without access_token and expires_in`);
    }
    if (!Number.isFinite(parsed.expires_in) || parsed.expires_in <= 0 || parsed.expires_in > MAX_LIFETIME_SECONDS) {
      throw new Error(`the metadata server at ${this.#host} answered a token that expires in ${String(parsed.expires_in)} s; expected 1 to ${MAX_LIFETIME_SECONDS}`);
    }
    const lifetimeMs = parsed.expires_in * 1000;
    const token = { value: parsed.access_token, refreshAt: fetchedAt + lifetimeMs - Math.min(REFRESH_AHEAD_MS, lifetimeMs / 2) };
    this.#token = token;
    return token;
  }
}

/** A failure this file described; anything else is a transport error to describe. */
class MetadataError extends Error {}

/** One GET to the metadata server; answers the body of a 200 that carries `Metadata-Flavor: Google`. */
function metadataGet(host: string, path: string): Promise<string> {
  const [hostname = host, port = '80'] = host.split(':');
  return new Promise((resolve, reject) => {
    // `timeout` below is between bytes; this one is for the whole answer.
    const deadline = setTimeout(() => { req.destroy(new MetadataError(`the metadata server at ${host} did not answer within ${ANSWER_TIMEOUT_MS} ms`)); }, ANSWER_TIMEOUT_MS);
    const req = request({ hostname, port: Number(port), path, headers: { 'metadata-flavor': 'Google' }, timeout: ANSWER_TIMEOUT_MS, agent: false }, (res) => {
      readToEnd(res, MAX_ANSWER_BYTES).then((bytes) => {
        if (bytes === undefined) {
          req.destroy(new MetadataError(`the metadata server at ${host} answered more than ${MAX_ANSWER_BYTES} bytes`));
          return;
        }
        const body = bytes.toString('utf8');
        if (res.headers['metadata-flavor'] !== 'Google') reject(new Error(`${host} answered without Metadata-Flavor: Google; it is not a metadata server`));
        else if (res.statusCode !== 200) reject(new Error(`the metadata server at ${host} answered HTTP ${res.statusCode ?? 0}: ${body.slice(0, 200)}`));
        else resolve(body);
      }, reject);
    });
    req.once('close', () => { clearTimeout(deadline); });
    req.on('timeout', () => { req.destroy(new MetadataError(`the metadata server at ${host} did not answer within ${ANSWER_TIMEOUT_MS} ms`)); });
    req.on('error', (error) => { reject(error instanceof MetadataError ? error : new Error(`no metadata server at ${host}: ${error.message}`)); });
    req.end();
  });
}
