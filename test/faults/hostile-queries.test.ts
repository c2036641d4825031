/**
 * Hostile queries and listings, against the connector as a pod runs it (the bundle, the
 * image's V8 flags). Each row is one way an attacker or a busy pod once killed the
 * process or took it past the 128Mi limit; now every answer is 200, 400 (the documented
 * refusal of a prefix with more than 10,000 files), 413 or 503, the process keeps serving
 * and its peak RSS stays under the limit.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startMemoryBackend, type MemoryBackend } from '../../bench/start-memory-backend.ts';
import { FIXED_SETTINGS } from '../../src/config.ts';
import { startEmulator, type Emulator } from '../helpers/emulator.ts';
import { holdThenFinish, inParallel, runImageRow } from '../helpers/image-connector.ts';
import { request, type Answer } from '../helpers/socket-http.ts';

const bucket = 'hostile-queries';
/** Documents at the largest size a query parses: the heaviest parse a client can ask for. */
const BIG_DOCUMENT_BYTES = FIXED_SETTINGS.queryDocumentMaxBytes;
const BIG_LABEL = `${BIG_DOCUMENT_BYTES / 1024} KiB`;
let emulator: Emulator;
let backend: MemoryBackend;

/** Seeds one object through GCS's media upload (either backend speaks it). */
async function seed(origin: string, name: string, body: string | Buffer): Promise<void> {
  const res = await fetch(`${origin}/upload/storage/v1/b/${bucket}/o?uploadType=media&name=${encodeURIComponent(name)}`, { method: 'POST', body });
  await res.arrayBuffer();
  assert.equal(res.status, 200, `seeding ${name}`);
}

function query(socketPath: string, body: unknown): Promise<Answer> {
  return request(socketPath, '/query', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** Counts answers by status: `{"200": 14, "503": 2}`. */
function byStatus(statuses: readonly number[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

function assertOnly(statuses: readonly number[], allowed: readonly number[]): void {
  const other = statuses.filter((status) => !allowed.includes(status));
  assert.deepEqual(other, [], `every answer is one of ${allowed.join(', ')}: ${JSON.stringify(byStatus(statuses))}`);
}

/** CPU time of a process so far, in ms (user + system, from /proc). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

before(async () => {
  emulator = await startEmulator();
  await emulator.createBucket(bucket);
  backend = await startMemoryBackend();
  // 1,000 small documents (emulator), 1,000 names of ~1 KB (emulator: its pages carry every field, the heaviest
  // listing a backend can send), 10,001 files under one prefix (benchmark backend: the emulator creates them too slowly).
  await inParallel(1000, 16, (i) => seed(emulator.origin, `docs/${String(i).padStart(4, '0')}.json`, JSON.stringify({ n: i % 97, name: `doc ${i}` })));
  await inParallel(1000, 16, (i) => seed(emulator.origin, `long/${'n'.repeat(1000)}-${String(i).padStart(4, '0')}`, 'x'));
  await inParallel(10_001, 32, (i) => seed(backend.origin, `many/${String(i).padStart(5, '0')}.json`, '{}'));
  const item = '{"a":1},';
  const big = `{"k":[${item.repeat(Math.floor((BIG_DOCUMENT_BYTES - 16) / item.length))}{"a":1}]}`;
  for (let i = 0; i < 5; i++) await seed(emulator.origin, `big/${i}.json`, big);
});
after(async () => {
  backend.stop();
  await emulator.stop();
});

describe('hostile queries and listings', () => {
  it('a sort on 20,000 repeated fields (an 80 KB body) over 1,000 documents: the repeats are dropped, the answer is sorted', async () => {
    await runImageRow({ variant: 'lww', origin: emulator.origin, bucket, check: 'query sorting on 20,000 repeated fields' }, async (connector) => {
      const body = { prefix: 'docs/', sort: Array.from({ length: 20_000 }, () => 'n') };
      const answer = await query(connector.socketPath, body);
      assert.equal(answer.status, 200, answer.text().slice(0, 300));
      const rows = answer.json<{ rows: { n: number }[]; total: number }>().rows;
      assert.equal(rows.length, 1000);
      assert.ok(rows.every((row, i) => i === 0 || (rows[i - 1] as { n: number }).n <= row.n), 'rows sorted on n');
      const distinct = await query(connector.socketPath, { prefix: 'docs/', sort: Array.from({ length: 40 }, (_, i) => `f${i}`) });
      assert.equal(distinct.status, 400, 'more than 32 distinct sort fields is refused');
      assert.match(distinct.text(), /at most 32/);
      return { body_bytes: JSON.stringify(body).length, documents: 1000, status: answer.status, distinct_fields_40: distinct.status };
    });
  });

  it(`sorting five documents of the largest size a query parses (${BIG_LABEL}) on a field of many small objects: the sort values are charged, the answer is 413`, async () => {
    await runImageRow({ variant: 'lww', origin: emulator.origin, bucket, check: 'query sorting documents of the largest size on a field of small objects' }, async (connector) => {
      const statuses: number[] = [];
      await inParallel(4, 4, async () => {
        const answer = await query(connector.socketPath, { prefix: 'big/', sort: ['k'] });
        statuses.push(answer.status);
        if (answer.status === 413) assert.match(answer.text(), /sort on smaller fields/);
        else assert.equal(answer.headers['x-query-skipped'], undefined, 'documents at the cap are read, not skipped');
      });
      assertOnly(statuses, [200, 413, 503]);
      assert.ok(statuses.includes(413), 'the sort values do not fit a query\'s memory');
      const limited = await query(connector.socketPath, { prefix: 'big/', sort: ['k'], limit: 1 });
      return { documents: 5, document_bytes: BIG_DOCUMENT_BYTES, queries: 4, answers: byStatus(statuses), limit_1: limited.status };
    });
  });

  it('16 and then 64 concurrent unpaged listings of 1,000 names of ~1 KB: each waits for a listing\'s memory, all are whole', async () => {
    await runImageRow({ variant: 'lww', origin: emulator.origin, bucket, check: 'concurrent unpaged listings of 1,000 names of ~1 KB' }, async (connector) => {
      const figures: Record<string, unknown> = {};
      for (const count of [16, 64]) {
        const started = Date.now();
        const statuses = await Promise.all(Array.from({ length: count }, async () => {
          const answer = await request(connector.socketPath, '/keys/?prefix=long/&delimiter=');
          if (answer.status === 200) assert.equal(answer.json<{ keys: string[] }>().keys.length, 1000, 'a listing answered 200 is whole');
          return answer.status;
        }));
        assertOnly(statuses, [200, 503]);
        figures[`listings_${count}`] = byStatus(statuses);
        figures[`seconds_${count}`] = (Date.now() - started) / 1000;
      }
      return figures;
    });
  });

  it('32 concurrent queries over a prefix of 10,001 files: each reserves before it lists, and is refused as documented', async () => {
    await runImageRow({ variant: 'lww', origin: backend.origin, bucket, check: '32 concurrent queries over 10,001 files' }, async (connector) => {
      const started = Date.now();
      const statuses = await Promise.all(Array.from({ length: 32 }, async () => {
        const answer = await query(connector.socketPath, { prefix: 'many/' });
        if (answer.status === 400) assert.match(answer.text(), /more than 10000 files/);
        return answer.status;
      }));
      assertOnly(statuses, [400, 503]);
      return { files: 10_001, queries: 32, answers: byStatus(statuses), seconds: (Date.now() - started) / 1000 };
    });
  });

  it('100 query bodies of 1 MiB held open: their memory is reserved before they are read, the rest wait unread', async () => {
    await runImageRow({ variant: 'lww', origin: emulator.origin, bucket, check: '100 query bodies of 1 MiB held open' }, async (connector) => {
      const filler = `{"prefix":"docs/0000","filter":{"name":{"$in":[${'"x",'.repeat(262_000)}"x"]}}}`;
      const body = Buffer.from(filler.padEnd(1024 * 1024, ' '));
      const head = `POST /query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
      const held = await holdThenFinish(connector, 100, () => ({ head, body }));
      assert.ok(held.waiting > 0, 'bodies past the budget wait before they are read');
      const statuses = held.answers.map((text) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0));
      assertOnly(statuses, [200, 503]);
      return { bodies: 100, body_bytes: body.length, rss_while_held_mib: held.rssWhileHeldMiB, waiting_while_held: held.waiting, answers: byStatus(statuses) };
    });
  });

  it('a $in of 400,000 values over 1,000 documents: one lookup per document', async () => {
    await runImageRow({ variant: 'lww', origin: emulator.origin, bucket, check: '$in of 400,000 values' }, async (connector) => {
      // Single digits, so that 400,000 of them fit the 1 MiB body limit.
      const values = Array.from({ length: 400_000 }, (_, i) => (i % 2 === 0 ? 5 : 7));
      const body = { prefix: 'docs/', filter: { n: { $in: values } } };
      const pid = connector.process.pid ?? 0;
      const cpuBefore = cpuMs(pid);
      // A probe every 20 ms while the query runs: the longest gap is the event loop's worst stall.
      let running = true;
      let worstProbeMs = 0;
      const probing = (async () => {
        while (running) {
          const sent = performance.now();
          await request(connector.socketPath, '/healthz');
          worstProbeMs = Math.max(worstProbeMs, performance.now() - sent);
          await sleep(20);
        }
      })();
      const answer = await query(connector.socketPath, body);
      running = false;
      await probing;
      const cpu = cpuMs(pid) - cpuBefore;
      assert.equal(answer.status, 200, answer.text().slice(0, 300));
      const expected = Array.from({ length: 1000 }, (_, i) => i).filter((i) => i % 97 === 5 || i % 97 === 7).length;
      assert.equal(answer.json<{ total: number }>().total, expected, 'the documents with n = 5 or 7 match');
      return { values: values.length, body_bytes: JSON.stringify(body).length, cpu_ms: cpu, worst_healthz_ms: Math.round(worstProbeMs) };
    });
  });
});
