/**
 * Load: mixed operations from 32 concurrent clients (half on kept-alive connections, half
 * with a new connection per request, as the Python runtime does) plus a CAS counter
 * workload, for SOAK_SECONDS (300 under `npm run test:faults`, shorter in the main test
 * command). Zero lost increments, zero 5xx, and the connector's RSS at the end within 10%
 * of its RSS after warm-up. The connector runs as a pod runs it (compiled, the image's V8
 * flags), so its memory figures are a pod's.
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { compiledConnectorArgs } from '../helpers/compiled-connector.ts';
import { startConnector, type Connector } from '../helpers/connector.ts';
import { startEmulator, type Emulator } from '../helpers/emulator.ts';
import { recordFigures } from '../helpers/figures.ts';
import { memoryMiB, openFds } from '../helpers/proc.ts';
import { request } from '../helpers/socket-http.ts';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 20);
const CLIENTS = 32;
const COUNTER_WORKERS = 8;

let emulator: Emulator;
let connector: Connector;
const bucket = 'soak';

before(async () => {
  emulator = await startEmulator();
  await emulator.createBucket(bucket);
  const args = compiledConnectorArgs(join(import.meta.dirname, '..', '..', 'run', 'soak-dist'));
  connector = await startConnector({ emulatorOrigin: emulator.origin, bucket, variant: 'cas', args });
});
after(async () => {
  await connector.stop();
  await emulator.stop();
});

describe(`soak (${SECONDS} s, ${CLIENTS} clients + ${COUNTER_WORKERS} CAS counter workers)`, () => {
  it('loses no increment, answers no 5xx, and keeps its memory flat', async () => {
    const sock = connector.socketPath;
    const pid = connector.process.pid ?? 0;
    const statuses = new Map<string, number>();
    /** The first answer body of each status label, so that an unexpected one says what it was. */
    const firstBodies = new Map<string, string>();
    const count = (op: string, status: number, body = ''): void => {
      const label = `${op} ${status}`;
      statuses.set(label, (statuses.get(label) ?? 0) + 1);
      if (!firstBodies.has(label)) firstBodies.set(label, body.slice(0, 300));
    };
    /** A mixed client's request: its status and its body's text. */
    const ask = async (path: string, options: Parameters<typeof request>[2]): Promise<[number, string]> => {
      const answer = await request(sock, path, options);
      return [answer.status, answer.text()];
    };
    const warmupMs = Math.max(3_000, SECONDS * 100);
    const endAt = Date.now() + SECONDS * 1000;
    let increments = 0;
    let conflicts = 0;
    let operations = 0;

    await request(sock, '/keys/counter', { method: 'PUT', body: '0', headers: { 'if-none-match': '*' } });

    const mixedClient = async (id: number): Promise<void> => {
      const agent = id % 2 === 0 ? new Agent({ keepAlive: true, maxSockets: 1 }) : undefined;
      const options = agent === undefined ? {} : { agent };
      let n = 0;
      while (Date.now() < endAt) {
        const key = `mixed/c${id}/k${n % 8}`;
        const roll = (n * 7 + id) % 10;
        n += 1;
        let op: string;
        let status: number;
        let body: string;
        if (roll < 3) {
          op = 'put';
          [status, body] = await ask(`/keys/${key}`, { ...options, method: 'PUT', body: Buffer.alloc(256 + ((n * 997) % 60_000), n % 256) });
        } else if (roll < 6) {
          op = 'get';
          [status, body] = await ask(`/keys/${key}`, options);
        } else if (roll < 7) {
          op = 'head';
          [status, body] = await ask(`/keys/${key}`, { ...options, method: 'HEAD' });
        } else if (roll < 8) {
          op = 'delete';
          [status, body] = await ask(`/keys/${key}`, { ...options, method: 'DELETE' });
        } else if (roll < 9) {
          op = 'list';
          [status, body] = await ask(`/keys/?prefix=mixed/c${id}/`, options);
        } else {
          op = 'meta';
          [status, body] = await ask(`/meta/${key}?attr=generation`, options);
        }
        count(op, status, body);
        operations += 1;
      }
      agent?.destroy();
    };

    const counterWorker = async (): Promise<void> => {
      while (Date.now() < endAt) {
        // A handler run: read, increment, write; on 409 run again from a fresh read.
        const read = await request(sock, '/keys/counter');
        count('counter-get', read.status);
        const write = await request(sock, '/keys/counter', {
          method: 'PUT',
          body: String(Number(read.text()) + 1),
          headers: { 'if-match': read.headers.etag ?? '' },
        });
        count('counter-put', write.status);
        if (write.status === 204) increments += 1;
        else if (write.status === 409) conflicts += 1;
        operations += 2;
      }
    };

    let rssAfterWarmup = 0;
    let peakRss = 0;
    const sampler = (async () => {
      await sleep(warmupMs);
      rssAfterWarmup = memoryMiB(pid, 'VmRSS');
      while (Date.now() < endAt) {
        peakRss = Math.max(peakRss, memoryMiB(pid, 'VmRSS'));
        await sleep(500);
      }
    })();

    const fdsBefore = openFds(pid);
    await Promise.all([
      ...Array.from({ length: CLIENTS }, (_, id) => mixedClient(id)),
      ...Array.from({ length: COUNTER_WORKERS }, () => counterWorker()),
      sampler,
    ]);
    await sleep(1_000);
    const rssAtEnd = memoryMiB(pid, 'VmRSS');
    const fdsAfter = openFds(pid);
    const finalCount = Number((await request(sock, '/keys/counter')).text());
    const fiveHundreds = [...statuses].filter(([label]) => Number(label.split(' ')[1]) >= 500).reduce((sum, [, n]) => sum + n, 0);

    recordFigures('soak', {
      seconds: SECONDS, clients: CLIENTS, counter_workers: COUNTER_WORKERS, operations,
      ops_per_s: Math.round(operations / SECONDS), increments, final_counter: finalCount, lost_increments: increments - finalCount,
      conflicts_retried: conflicts, responses_5xx: fiveHundreds, rss_after_warmup_mib: rssAfterWarmup, rss_peak_mib: peakRss,
      rss_end_mib: rssAtEnd, fds_before: fdsBefore, fds_after: fdsAfter, statuses: Object.fromEntries([...statuses].sort()),
    });
    assert.equal(finalCount, increments, 'zero lost increments');
    assert.equal(fiveHundreds, 0, 'zero 5xx');
    assert.ok(increments > 0 && conflicts > 0, 'the counter was contended');
    for (const label of statuses.keys()) {
      assert.ok(/^(put 204|get (200|404)|head (204|404)|delete (204|404)|list 200|meta (200|404)|counter-get 200|counter-put (204|409))$/.test(label), `unexpected ${label}: ${firstBodies.get(label) ?? ''}`);
    }
    assert.ok(rssAtEnd <= rssAfterWarmup * 1.1, `RSS at the end (${rssAtEnd} MiB) within 10% of after warm-up (${rssAfterWarmup} MiB)`);
  });
});
