/**
 * What the connector relies on from an ObjectStore, as tests: one suite run against the
 * in-memory store (test/unit/memory-store-contract.test.ts) and against the GCS store on
 * fake-gcs-server (test/integration/gcs-store-contract.test.ts), so the in-memory store
 * the in-process tests use cannot drift from GCS. Where the emulator cannot show a
 * behaviour, the suite says so in the test output and checks what it can.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import { isStoreError, type StoreErrorKind } from '../../src/store/store-error.ts';
import type { BodyChunk, ObjectStore, UploadBody } from '../../src/store/object-store.ts';

export interface ContractStore {
  readonly store: ObjectStore;
  /** `gs://bucket/` as the store names its objects. */
  readonly urlPrefix: string;
  /** Why a conditional read (`ifGenerationNotMatch`) may come back with the bytes, when the backend ignores it. */
  readonly conditionalReadIgnored?: string;
  /** Why a delete's `ifGenerationMatch` may be ignored (fake-gcs-server #1282). */
  readonly deleteConditionIgnored?: string;
  /** Why a metadata update may leave the metageneration as it was. */
  readonly metagenerationKept?: string;
  close(): Promise<void>;
}

/** A body that fits in one chunk, as the server hands one over. */
export function wholeBody(bytes: Buffer): UploadBody {
  return chunkedBody(bytes, Math.max(1, bytes.length));
}

/** A body in chunks of `chunkBytes`, as the server streams one; `handedBack` counts chunks the store gave back. */
export function chunkedBody(bytes: Buffer, chunkBytes: number): UploadBody & { handedBack: number } {
  let offset = 0;
  const body = {
    declaredSize: bytes.length,
    handedBack: 0,
    next: (): Promise<BodyChunk> => {
      const size = Math.min(chunkBytes, bytes.length - offset);
      const last = offset + size >= bytes.length;
      const chunk = { offset, size, buffers: [bytes.subarray(offset, offset + size)], last, md5Base64: last ? md5(bytes) : undefined };
      offset += size;
      return Promise.resolve(chunk);
    },
    done: (): void => { body.handedBack++; },
  };
  return body;
}

function md5(bytes: Buffer): string {
  return createHash('md5').update(bytes).digest('base64');
}

async function readAll(store: ObjectStore, name: string): Promise<Buffer> {
  const download = await store.read(name);
  const chunks: Buffer[] = [];
  for await (const chunk of download.body as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function write(store: ObjectStore, name: string, body: string | UploadBody, ifGenerationMatch?: string): Promise<string> {
  const upload = typeof body === 'string' ? wholeBody(Buffer.from(body)) : body;
  return (await store.write(name, upload, { contentType: 'text/plain', ifGenerationMatch })).generation;
}

/** Rejects with a StoreError of `kind`. */
async function rejectsWith(promise: Promise<unknown>, kind: StoreErrorKind): Promise<void> {
  await assert.rejects(promise, (error: unknown) => isStoreError(error, kind));
}

/** Registers the contract for the store `open` gives; each test works under its own name prefix. */
export function objectStoreContract(label: string, open: () => Promise<ContractStore>): void {
  describe(`ObjectStore contract: ${label}`, () => {
    let subject: ContractStore;
    let store: ObjectStore;
    let run = 0;
    /** A fresh name prefix per test. */
    const fresh = (): string => `contract-${Date.now()}-${run++}/`;

    before(async () => {
      subject = await open();
      store = subject.store;
    });
    after(async () => { await subject.close(); });

    it('a write answers the new attributes; a read gives the bytes, generation, size, type and MD5', async () => {
      const name = `${fresh()}a.txt`;
      const attributes = await store.write(name, wholeBody(Buffer.from('hello')), { contentType: 'text/plain' });
      assert.equal(attributes.name, name);
      assert.equal(attributes.size, 5);
      assert.match(attributes.generation, /^\d+$/);
      assert.equal(attributes.metageneration, '1');
      assert.equal(attributes.contentType, 'text/plain');
      const download = await store.read(name);
      assert.equal(download.generation, attributes.generation);
      assert.equal(download.size, 5);
      assert.match(download.contentType, /^text\/plain/);
      if (download.md5Base64 !== undefined) assert.equal(download.md5Base64, md5(Buffer.from('hello')));
      download.body.resume();
      assert.equal((await readAll(store, name)).toString(), 'hello');
      const stat = await store.stat(name);
      assert.deepEqual([stat.name, stat.size, stat.generation, stat.contentType], [name, 5, attributes.generation, 'text/plain']);
    });

    it('every write of a name gets a new, larger generation', async () => {
      const name = `${fresh()}g`;
      const first = await write(store, name, 'one');
      const second = await write(store, name, 'two');
      assert.ok(BigInt(second) > BigInt(first), `${second} > ${first}`);
    });

    it('reading, stating or deleting a missing object fails with not_found', async () => {
      const name = `${fresh()}missing`;
      await assert.rejects(store.read(name), (error: unknown) => isStoreError(error, 'not_found'));
      await assert.rejects(store.stat(name), (error: unknown) => isStoreError(error, 'not_found'));
      await assert.rejects(store.remove(name), (error: unknown) => isStoreError(error, 'not_found'));
    });

    it('ifGenerationMatch 0 creates only what is absent: otherwise "exists", the object unchanged', async () => {
      const name = `${fresh()}x`;
      await write(store, name, 'first', '0');
      await rejectsWith(write(store, name, 'second', '0'), 'exists');
      assert.equal((await readAll(store, name)).toString(), 'first');
    });

    it('ifGenerationMatch writes only at that generation: otherwise "changed"', async () => {
      const name = `${fresh()}c`;
      const first = await write(store, name, 'v1');
      const second = await write(store, name, 'v2', first);
      await rejectsWith(write(store, name, 'v3', first), 'changed');
      assert.equal((await readAll(store, name)).toString(), 'v2');
      assert.equal((await store.stat(name)).generation, second);
      await rejectsWith(write(store, `${fresh()}absent`, 'v1', '12345'), 'changed');
    });

    it('a chunked body is stored whole once its last chunk is in, each chunk handed back', async () => {
      const name = `${fresh()}big.bin`;
      const bytes = Buffer.alloc(2 * 256 * 1024 + 100, 7);
      for (let i = 0; i < bytes.length; i += 4096) bytes[i] = i % 251;
      const body = chunkedBody(bytes, 256 * 1024);
      const attributes = await store.write(name, body, { contentType: 'application/octet-stream' });
      assert.equal(attributes.size, bytes.length);
      assert.equal(body.handedBack, 3);
      assert.ok((await readAll(store, name)).equals(bytes));
    });

    it('a chunked body under a failed condition stores nothing', async () => {
      const name = `${fresh()}held`;
      await write(store, name, 'kept');
      await rejectsWith(store.write(name, chunkedBody(Buffer.alloc(300 * 1024, 1), 256 * 1024), { contentType: 'text/plain', ifGenerationMatch: '0' }), 'exists');
      assert.equal((await readAll(store, name)).toString(), 'kept');
    });

    it('readIfChanged: undefined at the same generation, the new bytes after a write', async (t: TestContext) => {
      const name = `${fresh()}r`;
      const first = await write(store, name, 'one');
      const unchanged = await store.readIfChanged(name, first);
      if (unchanged !== undefined) {
        assert.ok(subject.conditionalReadIgnored !== undefined, 'the store answered bytes to a read of an unchanged object');
        t.diagnostic(`not shown here: ${subject.conditionalReadIgnored}; checked instead that the bytes carry the same generation`);
        assert.equal(unchanged.generation, first);
        unchanged.body.resume();
      }
      const second = await write(store, name, 'two');
      const changed = await store.readIfChanged(name, first);
      assert.ok(changed !== undefined);
      assert.equal(changed.generation, second);
      changed.body.resume();
    });

    it('remove with ifGenerationMatch deletes only at that generation', async (t: TestContext) => {
      const name = `${fresh()}d`;
      const first = await write(store, name, 'one');
      const second = await write(store, name, 'two');
      if (subject.deleteConditionIgnored === undefined) {
        await rejectsWith(store.remove(name, first), 'changed');
        assert.equal((await readAll(store, name)).toString(), 'two');
      } else {
        t.diagnostic(`not shown here: ${subject.deleteConditionIgnored}`);
      }
      await store.remove(name, second);
      await assert.rejects(store.stat(name), (error: unknown) => isStoreError(error, 'not_found'));
    });

    it('list: recursive under a prefix, in name order, with sizes', async () => {
      const base = fresh();
      for (const name of ['b', 'a/2', 'a/1', 'c/d/e']) await write(store, `${base}${name}`, name);
      await write(store, `${base.slice(0, -1)}x/outside`, 'no');
      const page = await store.list({ prefix: base, delimiter: undefined, pageSize: 100, pageToken: undefined });
      assert.deepEqual(page.objects, [
        { name: `${base}a/1`, size: 3 }, { name: `${base}a/2`, size: 3 }, { name: `${base}b`, size: 1 }, { name: `${base}c/d/e`, size: 5 },
      ]);
      assert.deepEqual(page.prefixes, []);
      assert.equal(page.nextPageToken, undefined);
    });

    it('list with a delimiter groups names into prefixes', async () => {
      const base = fresh();
      for (const name of ['b', 'a/2', 'a/1', 'c/d/e']) await write(store, `${base}${name}`, name);
      const page = await store.list({ prefix: base, delimiter: '/', pageSize: 100, pageToken: undefined });
      assert.deepEqual(page.objects.map((object) => object.name), [`${base}b`]);
      assert.deepEqual(page.prefixes, [`${base}a/`, `${base}c/`]);
    });

    it('list pages: each name once, in order, across pages of a given size', async () => {
      const base = fresh();
      const names = Array.from({ length: 7 }, (_, i) => `${base}n${i}`);
      for (const name of names) await write(store, name, 'x');
      const seen: string[] = [];
      let pageToken: string | undefined;
      let pages = 0;
      do {
        const page = await store.list({ prefix: base, delimiter: undefined, pageSize: 3, pageToken });
        assert.ok(page.objects.length <= 3);
        seen.push(...page.objects.map((object) => object.name));
        pageToken = page.nextPageToken;
        pages++;
      } while (pageToken !== undefined && pages < 10);
      assert.deepEqual(seen, names);
      assert.ok(pages >= 3, `${pages} pages`);
    });

    it('setContentType changes the type and metageneration, not the generation', async (t: TestContext) => {
      const name = `${fresh()}t`;
      const generation = await write(store, name, '{}');
      const attributes = await store.setContentType(name, 'application/json');
      assert.equal(attributes.contentType, 'application/json');
      assert.equal(attributes.generation, generation);
      if (attributes.metageneration === '1' && subject.metagenerationKept !== undefined) t.diagnostic(`not shown here: ${subject.metagenerationKept}`);
      else assert.equal(attributes.metageneration, '2');
      assert.equal((await store.stat(name)).contentType, 'application/json');
    });

    it('objectUrl names the object in its bucket', () => {
      assert.equal(store.objectUrl('a/b c'), `${subject.urlPrefix}a/b c`);
    });
  });
}
