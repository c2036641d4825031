/** Tokens from a metadata server (a local stand-in speaking its protocol): fetched once, refreshed before expiry, checked for Metadata-Flavor. */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, it } from 'node:test';
import { MetadataTokenSource } from '../../src/store/gcs/metadata-token.ts';
import { GcsHttp } from '../../src/store/gcs/gcs-http.ts';
import { UNOBSERVED } from '../../src/store/gcs/gcs-observer.ts';

async function standIn(answer: (n: number) => { status: number; flavor: boolean; body: string }): Promise<{ host: string; requests: () => number; close: () => void }> {
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    assert.equal(req.headers['metadata-flavor'], 'Google');
    const { status, flavor, body } = answer(requests);
    res.writeHead(status, flavor ? { 'metadata-flavor': 'Google' } : {}).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { host: `127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`, requests: () => requests, close: () => { server.close(); } };
}

describe('MetadataTokenSource', () => {
  it('fetches once, serves the token until shortly before it expires, then fetches the next', async () => {
    const server = await standIn((n) => ({ status: 200, flavor: true, body: JSON.stringify({ access_token: `token-${n}`, expires_in: 3600, token_type: 'Bearer' }) }));
    let now = 1_000_000;
    const source = new MetadataTokenSource({ host: server.host, now: () => now });
    try {
      const [a, b] = await Promise.all([source.authorization(), source.authorization()]);
      assert.equal(a, 'Bearer token-1');
      assert.equal(b, 'Bearer token-1');
      assert.equal(server.requests(), 1, 'concurrent callers share one fetch');
      now += 54 * 60 * 1000;
      assert.equal(await source.authorization(), 'Bearer token-1', 'still six minutes left');
      now += 2 * 60 * 1000;
      assert.equal(await source.authorization(), 'Bearer token-2', 'refreshed five minutes before expiry');
      assert.equal(server.requests(), 2);
    } finally {
      server.close();
    }
  });

  it('refuses an answer without Metadata-Flavor: Google, an error status, and a body without a token', async () => {
    for (const [answer, message] of [
      [{ status: 200, flavor: false, body: '{"access_token":"x","expires_in":60}' }, /not a metadata server/],
      [{ status: 404, flavor: true, body: 'no such service account' }, /answered HTTP 404: no such service account/],
      [{ status: 200, flavor: true, body: '{"expires_in":60}' }, /without access_token/],
    ] as const) {
      const server = await standIn(() => answer);
      try {
        await assert.rejects(new MetadataTokenSource({ host: server.host }).authorization(), message);
      } finally {
        server.close();
      }
    }
  });

  it('says so when nothing listens', async () => {
    await assert.rejects(new MetadataTokenSource({ host: '127.0.0.1:1' }).authorization(), /no metadata server at 127\.0\.0\.1:1/);
  });

  it('gives a dripping metadata server one deadline for the whole answer, not one per byte', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'metadata-flavor': 'Google' });
      const drip = setInterval(() => { res.write(' '); }, 200);
      res.once('close', () => { clearInterval(drip); });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const host = `127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
    try {
      await assert.rejects(new MetadataTokenSource({ host }).authorization(), /did not answer within 3000 ms/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('refuses a token whose expires_in is not a sane lifetime', async () => {
    for (const expires of [0, -60, 1e12]) {
      const server = await standIn(() => ({ status: 200, flavor: true, body: JSON.stringify({ access_token: 't', expires_in: expires }) }));
      try {
        await assert.rejects(new MetadataTokenSource({ host: server.host }).authorization(), /expires in/, String(expires));
      } finally {
        server.close();
      }
    }
  });

  it('forgets a token GCS refused with 401, so the next request fetches another', async () => {
    const metadata = await standIn((n) => ({ status: 200, flavor: true, body: JSON.stringify({ access_token: `token-${n}`, expires_in: 3600 }) }));
    const source = new MetadataTokenSource({ host: metadata.host });
    const gcs = createServer((req, res) => { res.writeHead(req.headers.authorization === 'Bearer token-1' ? 401 : 200).end('{}'); });
    await new Promise<void>((resolve) => gcs.listen(0, '127.0.0.1', resolve));
    const address = gcs.address();
    const http = new GcsHttp({
      origin: `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`,
      credentials: {
        authorization: () => source.authorization(),
        refused: (authorization) => { source.forget(authorization); },
        email: () => Promise.reject(new Error('unused')),
        sign: () => Promise.reject(new Error('unused')),
      },
      timeoutMs: 2_000,
      connections: 1,
      observer: UNOBSERVED,
    });
    const call = (): Promise<number> => http.send({ op: 'stat', method: 'GET', path: '/x', signal: new AbortController().signal, context: { target: 'gs://b/x' }, body: null, headers: {} }).then(async (answer) => {
      await answer.dump();
      return answer.status;
    });
    try {
      assert.equal(await call(), 401);
      assert.equal(await call(), 200, 'the second request carries a fresh token');
      assert.equal(metadata.requests(), 2);
    } finally {
      await http.close();
      gcs.close();
      metadata.close();
    }
  });
});
