/**
 * Google's retry conformance scenarios, seen through the protocol. Google's client
 * libraries are all held to the cases of `storage/v1/retry_tests.json`
 * (googleapis/conformance-tests), which storage-testbench plays as instructions such as
 * `return-503` or `return-broken-stream-after-256K`. Here the fault proxy plays them in
 * front of fake-gcs-server, one rule per instruction in order, on the GCS requests of one
 * call; the connector (both variants) must answer the protocol request truthfully, and
 * the bucket is checked afterwards.
 *
 * Where the connector differs from the libraries on purpose, the row says so: writes
 * without a precondition (conformance id 3) are retried, because a retry lands before the
 * client has its answer (docs/semantics.md, "Retries").
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { IncomingMessage } from 'node:http';
import { startConnector, type Connector } from '../helpers/connector.ts';
import { generationDirect, getDirect, putDirect, startEmulator, type Emulator } from '../helpers/emulator.ts';
import { coversUploadOffset, startFaultProxy, type Fault, type FaultProxy } from '../helpers/fault-proxy.ts';
import { md5Of, patternedChunks } from '../helpers/large-bodies.ts';
import { request, type Answer } from '../helpers/socket-http.ts';

const bucket = 'retry-conformance';
const KIB = 1024;
const MIB = 1024 * KIB;
/** The connector's GCS deadline in these tests: a stall is cut after it. */
const TIMEOUT_MS = 2_000;

/** A storage-testbench instruction, and what the proxy does for it. */
type Instruction =
  | 'return-503' | 'return-400' | 'return-401' | 'return-408' | 'return-reset-connection'
  | 'return-503-after-256K' | 'return-503-after-8192K'
  | 'return-broken-stream' | 'return-broken-stream-after-256K' | 'stall-for-100s-after-128K';

function faultOf(instruction: Instruction): Fault {
  switch (instruction) {
    case 'return-503': return { kind: 'status', status: 503 };
    case 'return-400': return { kind: 'status', status: 400 };
    case 'return-401': return { kind: 'status', status: 401 };
    case 'return-408': return { kind: 'status', status: 408 };
    case 'return-reset-connection': return { kind: 'reset' };
    case 'return-503-after-256K': return { kind: 'fail-upload-at', offset: 256 * KIB, status: 503 };
    case 'return-503-after-8192K': return { kind: 'fail-upload-at', offset: 8192 * KIB, status: 503 };
    case 'return-broken-stream': return { kind: 'break-body', bytes: 64 };
    case 'return-broken-stream-after-256K': return { kind: 'break-body', bytes: 256 * KIB };
    case 'stall-for-100s-after-128K': return { kind: 'stall-body', bytes: 128 * KIB };
  }
}

/** Where an upload instruction applies: the data PUT holding that upload byte (other instructions: the call's next request). */
function uploadOffsetOf(instruction: Instruction): number | undefined {
  if (instruction === 'return-503-after-256K') return 256 * KIB;
  if (instruction === 'return-503-after-8192K') return 8192 * KIB;
  return undefined;
}

const RETRIED_CASES: readonly (readonly Instruction[])[] = [
  ['return-503', 'return-503'],
  ['return-reset-connection', 'return-reset-connection'],
  ['return-reset-connection', 'return-503'],
];
/** Id 3 gives three failures, since the libraries must not retry even once. */
const NO_PRECONDITION_CASES: readonly (readonly Instruction[])[] = [
  ['return-503', 'return-503', 'return-503'],
  ['return-reset-connection', 'return-reset-connection', 'return-reset-connection'],
  ['return-reset-connection', 'return-503', 'return-503'],
];
const NON_RETRYABLE_CASES: readonly (readonly Instruction[])[] = [
  ['return-400'],
  ['return-401'],
  ['return-503', 'return-400'],
  ['return-reset-connection', 'return-401'],
];
const RESUMABLE_CASES: readonly (readonly Instruction[])[] = [
  ['return-reset-connection', 'return-503'],
  ['return-408'],
  ['return-503-after-256K'],
  ['return-503-after-8192K', 'return-408'],
];
const DOWNLOAD_CASES: readonly (readonly Instruction[])[] = [
  ['return-broken-stream', 'return-broken-stream'],
  ['return-broken-stream-after-256K'],
];

type Variant = 'lww' | 'cas';

/** One protocol call: prepares the bucket, makes the call, and checks the answer and the bucket. */
interface Call {
  /** The GCS JSON API method the instructions hit. */
  readonly method: string;
  /** What the row does through the protocol. */
  readonly does: string;
  /** The GCS requests of this call that the instructions apply to. */
  readonly hits: (name: string) => (req: Seen) => boolean;
  readonly prepare?: (t: Row) => Promise<void>;
  readonly run: (t: Row) => Promise<Answer>;
  /** Checks a successful answer and the bucket after it. */
  readonly check: (t: Row, answer: Answer) => Promise<void>;
  /** Only one variant makes this call (a CAS write). */
  readonly only?: Variant;
}

/** What a row works on: its connector, its key (the object name: no STATE_PREFIX) and its bytes. */
interface Row {
  readonly variant: Variant;
  readonly connector: Connector;
  readonly key: string;
  readonly body: Buffer;
}

let emulator: Emulator;
let proxy: FaultProxy;
const connectors = new Map<string, Connector>();

before(async () => {
  emulator = await startEmulator();
  await emulator.createBucket(bucket);
  proxy = await startFaultProxy(emulator.origin);
  for (const variant of ['lww', 'cas'] as const) {
    connectors.set(variant, await startConnector({ emulatorOrigin: proxy.origin, bucket, variant, env: { CONNECTOR_MEMORY_BUDGET: '48Mi' }, settings: { gcsTimeoutMs: TIMEOUT_MS } }));
  }
});
after(async () => {
  for (const connector of connectors.values()) await connector.stop();
  await proxy.close();
  await emulator.stop();
});

/** A GCS request as the proxy saw it. */
type Seen = Pick<IncomingMessage, 'method' | 'url' | 'headers'>;

/** One of the connectors started in `before`. */
function connectorOf(name: string): Connector {
  const connector = connectors.get(name);
  assert.ok(connector !== undefined, `no connector ${name}`);
  return connector;
}

const objectPath = (name: string): string => `/o/${encodeURIComponent(name)}`;
const pathOf = (req: Seen): string => (req.url ?? '').split('?')[0] ?? '';
const queryOf = (req: Seen): URLSearchParams => new URL(req.url ?? '/', 'http://gcs').searchParams;

const mediaGet = (name: string) => (req: Seen): boolean =>
  req.method === 'GET' && pathOf(req).endsWith(objectPath(name)) && queryOf(req).get('alt') === 'media';
const metadataGet = (name: string) => (req: Seen): boolean =>
  req.method === 'GET' && pathOf(req).endsWith(objectPath(name)) && queryOf(req).get('alt') === null;
const listing = (name: string) => (req: Seen): boolean =>
  req.method === 'GET' && pathOf(req).endsWith('/o') && queryOf(req).get('prefix') === `${name}/`;
const multipartInsert = () => (req: Seen): boolean => req.method === 'POST' && queryOf(req).get('uploadType') === 'multipart';
const uploadData = () => (req: Seen): boolean => req.method === 'PUT' && queryOf(req).has('upload_id') && /^bytes \d/.test(req.headers['content-range'] ?? '');
const objectDelete = (name: string) => (req: Seen): boolean => req.method === 'DELETE' && pathOf(req).endsWith(objectPath(name));
const patch = (name: string) => (req: Seen): boolean => req.method === 'PATCH' && pathOf(req).endsWith(objectPath(name));

/** The ETag a PUT answered: the generation it wrote. */
const etagOf = (answer: Answer): string => (answer.headers.etag ?? '').replaceAll('"', '');

async function storedIs(t: Row, answer: Answer): Promise<void> {
  assert.equal(answer.status, 204, answer.text());
  const stored = await getDirect(emulator, bucket, t.key);
  assert.ok(stored !== undefined, 'the object is in the bucket');
  assert.equal(md5Of([stored]), md5Of([t.body]), 'byte-exact');
  assert.equal(await generationDirect(emulator, bucket, t.key), etagOf(answer), 'the generation answered is the one stored: the write landed once, and last');
}

async function goneIs(t: Row, answer: Answer): Promise<void> {
  assert.equal(answer.status, 204, answer.text());
  assert.equal(await getDirect(emulator, bucket, t.key), undefined, 'the object is gone');
}

async function readIs(t: Row, answer: Answer): Promise<void> {
  assert.equal(answer.status, 200, answer.text());
  assert.equal(answer.body.length, t.body.length);
  assert.equal(md5Of([answer.body]), md5Of([t.body]), 'byte-exact');
}

const seed = async (t: Row): Promise<void> => { await putDirect(emulator, bucket, t.key, t.body); };
/** The CAS variant makes a PUT conditional on the generation it last read (absent counts). */
const readFirst = async (t: Row): Promise<void> => { await request(t.connector.socketPath, `/keys/${t.key}`); };

const GET: Call = {
  method: 'storage.objects.get', does: 'GET of a 600 KiB object', hits: mediaGet, prepare: seed,
  run: (t) => request(t.connector.socketPath, `/keys/${t.key}`), check: readIs,
};

const CREATE_ONLY_PUT: Call = {
  method: 'storage.objects.insert', does: 'create-only PUT (If-None-Match: *)', hits: multipartInsert,
  run: (t) => request(t.connector.socketPath, `/keys/${t.key}`, { method: 'PUT', body: t.body, headers: { 'if-none-match': '*' } }),
  check: storedIs,
};

const IDEMPOTENT: readonly Call[] = [
  GET,
  {
    method: 'storage.objects.get', does: 'HEAD (object metadata)', hits: metadataGet, prepare: seed,
    run: (t) => request(t.connector.socketPath, `/keys/${t.key}`, { method: 'HEAD' }),
    check: async (t, answer) => {
      assert.equal(answer.status, 204);
      assert.equal(answer.headers['content-length'], String(t.body.length));
    },
  },
  {
    method: 'storage.objects.list', does: 'listing of a folder', hits: listing,
    prepare: async (t) => { for (const leaf of ['a', 'b']) await putDirect(emulator, bucket, `${t.key}/${leaf}`, 'x'); },
    run: (t) => request(t.connector.socketPath, `/keys/?prefix=${encodeURIComponent(`${t.key}/`)}`),
    check: async (t, answer) => {
      assert.equal(answer.status, 200, answer.text());
      assert.deepEqual(answer.json<{ keys: string[] }>().keys, [`${t.key}/a`, `${t.key}/b`]);
    },
  },
];

const WITH_PRECONDITION: readonly Call[] = [
  CREATE_ONLY_PUT,
  {
    method: 'storage.objects.insert', does: 'PUT with If-Match', hits: multipartInsert, prepare: seed,
    run: async (t) => request(t.connector.socketPath, `/keys/${t.key}`, {
      method: 'PUT', body: t.body, headers: { 'if-match': `"${await generationDirect(emulator, bucket, t.key)}"` },
    }),
    check: storedIs,
  },
  {
    method: 'storage.objects.insert', does: 'CAS PUT after a GET', only: 'cas', hits: multipartInsert,
    prepare: async (t) => { await seed(t); await readFirst(t); },
    run: (t) => request(t.connector.socketPath, `/keys/${t.key}`, { method: 'PUT', body: t.body }),
    check: storedIs,
  },
  {
    method: 'storage.objects.delete', does: 'DELETE with If-Match', hits: objectDelete, prepare: seed,
    run: async (t) => request(t.connector.socketPath, `/keys/${t.key}`, {
      method: 'DELETE', headers: { 'if-match': `"${await generationDirect(emulator, bucket, t.key)}"` },
    }),
    check: goneIs,
  },
];

const WITHOUT_PRECONDITION: readonly Call[] = [
  {
    method: 'storage.objects.insert', does: 'LWW PUT', only: 'lww', hits: multipartInsert, prepare: seed,
    run: (t) => request(t.connector.socketPath, `/keys/${t.key}`, { method: 'PUT', body: t.body }),
    check: storedIs,
  },
  {
    method: 'storage.objects.delete', does: 'DELETE', hits: objectDelete, prepare: seed,
    run: (t) => request(t.connector.socketPath, `/keys/${t.key}`, { method: 'DELETE' }),
    check: goneIs,
  },
  {
    method: 'storage.objects.patch', does: 'PUT of the content_type attribute', hits: patch, prepare: seed,
    run: (t) => request(t.connector.socketPath, `/meta/${t.key}?attr=content_type`, { method: 'PUT', body: JSON.stringify({ value: 'text/x-retried' }) }),
    check: async (t, answer) => {
      assert.equal(answer.status, 204, answer.text());
      const stat = await fetch(`${emulator.origin}/storage/v1/b/${bucket}/o/${encodeURIComponent(t.key)}`).then(async (res) => (await res.json()) as { contentType: string });
      assert.equal(stat.contentType, 'text/x-retried');
    },
  },
];

function bodyFor(call: Call, index: number): Buffer {
  const size = call.method === 'storage.objects.get' ? 600 * KIB : 4 * KIB + index;
  return Buffer.concat([...patternedChunks(size, MIB, 0x1234 + index)]);
}

let rowCount = 0;

/** Runs `call` under `instructions` for `variant`; answers the protocol answer and the GCS requests the instructions applied to. */
async function play(variant: Variant, call: Call, instructions: readonly Instruction[]): Promise<{ answer: Answer; row: Row; hitRequests: number }> {
  rowCount += 1;
  const connector = connectorOf(variant);
  const key = `${variant}/row-${rowCount}`;
  const row: Row = { variant, connector, key, body: bodyFor(call, rowCount) };
  await call.prepare?.(row);
  const hits = call.hits(key);
  proxy.injectInOrder(instructions.map((instruction) => ({ matches: hits, fault: faultOf(instruction) })));
  const before = proxy.seenRequests.length;
  try {
    const answer = await call.run(row);
    return { answer, row, hitRequests: proxy.seenRequests.slice(before).filter(hits).length };
  } finally {
    proxy.clear();
  }
}

for (const variant of ['lww', 'cas'] as const) {
  const applies = (call: Call): boolean => call.only === undefined || call.only === variant;

  describe(`${variant}: id 1, always idempotent: retried until success`, () => {
    for (const call of IDEMPOTENT) {
      for (const instructions of RETRIED_CASES) {
        it(`${call.method} (${call.does}) under [${instructions.join(', ')}]`, async () => {
          const { answer, row } = await play(variant, call, instructions);
          await call.check(row, answer);
        });
      }
    }
  });

  describe(`${variant}: id 2, conditionally idempotent with a precondition: retried, lands exactly once`, () => {
    for (const call of WITH_PRECONDITION.filter(applies)) {
      for (const instructions of RETRIED_CASES) {
        it(`${call.method} (${call.does}) under [${instructions.join(', ')}]`, async () => {
          const { answer, row } = await play(variant, call, instructions);
          await call.check(row, answer);
        });
      }
    }
  });

  describe(`${variant}: id 3, no precondition: the connector retries these (the libraries do not) and tells the truth about the bucket`, () => {
    for (const call of WITHOUT_PRECONDITION.filter(applies)) {
      for (const instructions of NO_PRECONDITION_CASES) {
        it(`${call.method} (${call.does}) under [${instructions.join(', ')}]`, async () => {
          const { answer, row } = await play(variant, call, instructions);
          await call.check(row, answer);
        });
      }
    }
  });

  describe(`${variant}: id 6, non-retryable errors: answered at once, never retried`, () => {
    for (const call of [GET, CREATE_ONLY_PUT]) {
      for (const instructions of NON_RETRYABLE_CASES) {
        it(`${call.method} (${call.does}) under [${instructions.join(', ')}]`, async () => {
          const started = Date.now();
          const { answer, row, hitRequests } = await play(variant, call, instructions);
          const final = instructions.at(-1);
          assert.equal(answer.status, final === 'return-401' ? 403 : 400, answer.text());
          assert.equal(hitRequests, instructions.length, 'one request per instruction: the final error is not retried');
          if (call.method === 'storage.objects.insert') assert.equal(await getDirect(emulator, bucket, row.key), undefined, 'nothing stored');
          console.log(`# ${variant} ${call.method} [${instructions.join(', ')}]: ${answer.status} after ${Date.now() - started} ms`);
        });
      }
    }
  });

  describe(`${variant}: id 7, resumable uploads resume from the offset GCS reports`, () => {
    for (const announced of [true, false]) {
      for (const instructions of RESUMABLE_CASES) {
        it(`storage.objects.insert (12 MiB PUT ${announced ? 'with Content-Length' : 'chunked'}) under [${instructions.join(', ')}]`, async () => {
          rowCount += 1;
          const connector = connectorOf(variant);
          const key = `${variant}/upload-${rowCount}`;
          const pieces = [...patternedChunks(12 * MIB, MIB, rowCount)];
          const body = Buffer.concat(pieces);
          // The CAS write is then conditional on "absent" (ifGenerationMatch=0).
          if (variant === 'cas') await request(connector.socketPath, `/keys/${key}`);
          proxy.injectInOrder(instructions.map((instruction) => {
            const offset = uploadOffsetOf(instruction);
            return { matches: offset === undefined ? uploadData() : coversUploadOffset(offset), fault: faultOf(instruction) };
          }));
          const before = proxy.seenRequests.length;
          const answer = await request(connector.socketPath, `/keys/${key}`, announced
            ? { method: 'PUT', body }
            : { method: 'PUT', body: (async function* () { yield* pieces; })() });
          proxy.clear();
          await storedIs({ variant, connector, key, body }, answer);
          const starts = proxy.seenRequests.slice(before)
            .filter((seen) => seen.method === 'PUT' && /^bytes \d/.test(String(seen.headers['content-range'])))
            .map((seen) => Number(/^bytes (\d+)/.exec(String(seen.headers['content-range']))?.[1]));
          assert.deepEqual(starts, [...starts].sort((a, b) => a - b), `no byte GCS held is sent again: chunk starts never go back (${starts.join(', ')})`);
          const cut = instructions.map(uploadOffsetOf).find((offset) => offset !== undefined);
          // A cut on a chunk's first byte leaves that chunk to be sent again whole; any other, the chunk's rest.
          if (cut !== undefined) assert.ok(starts.filter((start) => start === cut).length >= (cut % (8 * MIB) === 0 ? 2 : 1), `sent again from byte ${cut}, where GCS said it stopped (${starts.join(', ')})`);
        });
      }
    }
  });

  describe(`${variant}: id 8, downloads resume with a Range pinned to the generation`, () => {
    for (const size of [600 * KIB, 24 * MIB]) {
      for (const instructions of DOWNLOAD_CASES) {
        it(`storage.objects.get (GET of ${size / KIB} KiB) under [${instructions.join(', ')}]`, async () => {
          rowCount += 1;
          const connector = connectorOf(variant);
          const key = `${variant}/download-${rowCount}`;
          const body = Buffer.concat([...patternedChunks(size, MIB, rowCount)]);
          const generation = await putDirect(emulator, bucket, key, body);
          proxy.injectInOrder(instructions.map((instruction) => ({ matches: mediaGet(key), fault: faultOf(instruction) })));
          const before = proxy.seenRequests.length;
          const answer = await request(connector.socketPath, `/keys/${key}`);
          proxy.clear();
          await readIs({ variant, connector, key, body }, answer);
          const resumed = proxy.seenRequests.slice(before).filter((seen) => /^bytes=\d+-$/.test(String(seen.headers.range)));
          assert.ok(resumed.length >= 1, 'the rest was asked for with an open-ended Range');
          for (const seen of resumed) assert.equal(new URL(seen.url, 'http://gcs').searchParams.get('generation'), generation, 'pinned to the generation the download started with');
        });
      }
    }

    it('storage.objects.get under [stall-for-100s-after-128K]: the stall timer cuts it, the rest is read from where it stopped', async () => {
      rowCount += 1;
      const connector = connectorOf(variant);
      const key = `${variant}/stalled-${rowCount}`;
      const body = Buffer.concat([...patternedChunks(600 * KIB, MIB, rowCount)]);
      await putDirect(emulator, bucket, key, body);
      proxy.inject(mediaGet(key), faultOf('stall-for-100s-after-128K'));
      const started = Date.now();
      const before = proxy.seenRequests.length;
      const answer = await request(connector.socketPath, `/keys/${key}`);
      proxy.clear();
      await readIs({ variant, connector, key, body }, answer);
      assert.ok(proxy.seenRequests.slice(before).some((seen) => seen.headers.range === `bytes=${128 * KIB}-`), 'resumed at the byte where it stalled');
      console.log(`# ${variant} stalled download: whole after ${Date.now() - started} ms (GCS timeout ${TIMEOUT_MS} ms)`);
    });
  });
}

describe('an overwrite between a break and its resume cuts the answer instead of mixing versions', () => {
  it('the pinned generation is gone: the client sees an error, never a short body that looks whole', async () => {
    const connector = connectorOf('lww');
    const key = 'lww/overwritten-mid-read';
    const body = Buffer.concat([...patternedChunks(600 * KIB, MIB, 7)]);
    await putDirect(emulator, bucket, key, body);
    proxy.inject(mediaGet(key), { kind: 'break-body', bytes: 256 * KIB });
    // The overwrite lands before the resume asks for the old generation.
    proxy.inject((req) => mediaGet(key)(req) && req.headers.range !== undefined, { kind: 'status', status: 404 }, 5);
    const outcome = await request(connector.socketPath, `/keys/${key}`).then((answer) => `answered ${answer.body.length} bytes`, (error: unknown) => `failed: ${(error as Error).message}`);
    proxy.clear();
    assert.match(outcome, /^failed: /, 'the response is cut (its Content-Length not reached)');
  });
});

describe('every GCS call has one deadline, retries included', () => {
  const stalledWrites = [
    { does: 'a PUT of 4 KiB (one multipart request)', hits: multipartInsert(), size: 4 * KIB },
    { does: 'a PUT of 12 MiB (a resumable upload: each chunk)', hits: uploadData(), size: 12 * MIB },
  ];
  for (const variant of ['lww', 'cas'] as const) {
    for (const write of stalledWrites) {
      it(`${variant}: ${write.does} that GCS never answers is 504 after one attempt, not retried past the deadline`, async () => {
        const connector = connectorOf(variant);
        const key = `${variant}/stalled-write-${++rowCount}`;
        proxy.inject(write.hits, { kind: 'stall' }, 10);
        const started = Date.now();
        const before = proxy.seenRequests.length;
        const answer = await request(connector.socketPath, `/keys/${key}`, { method: 'PUT', body: Buffer.concat([...patternedChunks(write.size, MIB, rowCount)]) });
        const attempts = proxy.seenRequests.slice(before).filter(write.hits).length;
        proxy.clear();
        assert.equal(answer.status, 504, answer.text());
        assert.equal(attempts, 1, 'the one attempt used the whole deadline; no retry was started past it');
        assert.equal(await getDirect(emulator, bucket, key), undefined, 'nothing stored');
        console.log(`# ${variant} ${write.does} stalled: 504 after ${Date.now() - started} ms (GCS timeout ${TIMEOUT_MS} ms)`);
      });
    }
  }
});
