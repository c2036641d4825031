/**
 * Large downloads in parallel ranges: byte-exact, every range pinned to the generation the
 * first response named, the window's memory reserved once and given back; an overwrite
 * during the read cuts the answer (never mixes versions) and is logged; small objects stay
 * one request.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Connector } from '../helpers/connector.ts';
import { putDirect, type Emulator } from '../helpers/emulator.ts';
import type { FaultProxy } from '../helpers/fault-proxy.ts';
import { waitFor } from '../helpers/large-bodies.ts';
import { startProxiedConnector, type ProxiedConnector } from '../helpers/proxied-connector.ts';
import { metricValue, request } from '../helpers/socket-http.ts';

const MIB = 1024 * 1024;
const RANGE = 4 * MIB;
const STREAMS = 4;

let emulator: Emulator;
let proxy: FaultProxy;
let connector: Connector;
const bucket = 'large-downloads';

/** Bytes that differ in every 4-byte word, seeded, so any misplaced range shows. */
function patterned(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size);
  let state = seed;
  for (let i = 0; i + 4 <= size; i += 4) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    bytes.writeUInt32LE(state, i);
  }
  return bytes;
}

function md5(bytes: Buffer): string {
  return createHash('md5').update(bytes).digest('hex');
}

/** The ranged GETs the proxy saw since `since`: their Range header and generation. */
function rangeReads(since: number): { range: string; generation: string | null }[] {
  return proxy.seenRequests.slice(since)
    .filter((seen) => seen.method === 'GET' && seen.headers.range !== undefined)
    .map((seen) => ({ range: String(seen.headers.range), generation: new URL(seen.url, 'http://x').searchParams.get('generation') }));
}

/** Opens a GET and answers its response, unread. */
function openGet(key: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    httpRequest({ socketPath: connector.socketPath, path: `/keys/${key}`, agent: false }, resolve).on('error', reject).end();
  });
}

let setup: ProxiedConnector;

before(async () => {
  setup = await startProxiedConnector(bucket, {
    variant: 'cas',
    env: { CONNECTOR_MEMORY_BUDGET: '48Mi' },
    settings: { readRangeBytes: 4 * 1024 * 1024, readStreams: STREAMS, logLevel: 'debug' },
  });
  ({ emulator, proxy, connector } = setup);
});
after(async () => {
  await setup.stop();
});

describe('large downloads in parallel ranges', () => {
  it('a 40 MiB GET is byte-exact, its ranges each pinned to the first response\'s generation', async () => {
    const body = patterned(40 * MIB, 7);
    const generation = await putDirect(emulator, bucket, 'ranged/model.bin', body);
    const since = proxy.seenRequests.length;
    const answer = await request(connector.socketPath, '/keys/ranged/model.bin');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-length'], String(body.length));
    assert.equal(answer.headers.etag, `"${generation}"`);
    assert.equal(md5(answer.body), md5(body));
    const reads = rangeReads(since);
    const expected = [];
    for (let start = RANGE; start < body.length; start += RANGE) expected.push(`bytes=${start}-${Math.min(start + RANGE, body.length) - 1}`);
    assert.deepEqual(reads.map((read) => read.range), expected, 'the first response serves the first range; the rest in order');
    assert.ok(reads.every((read) => read.generation === generation), 'every range is pinned to the generation the first response named');
    assert.equal(await metricValue(connector.socketPath, 'asya_state_memory_budget_used_bytes', { use: 'download' }), 0, 'the window is given back');
  });

  it('an object up to twice the range size is one plain GET', async () => {
    await putDirect(emulator, bucket, 'ranged/small.bin', patterned(2 * RANGE, 3));
    const since = proxy.seenRequests.length;
    const answer = await request(connector.socketPath, '/keys/ranged/small.bin');
    assert.equal(answer.status, 200);
    assert.equal(answer.body.length, 2 * RANGE);
    assert.deepEqual(rangeReads(since), []);
  });

  it('a client that stops reading holds no more than the window, and leaving gives it back', async () => {
    await putDirect(emulator, bucket, 'ranged/paused.bin', patterned(64 * MIB, 11));
    const res = await openGet('ranged/paused.bin');
    res.pause();
    const used = (): Promise<number> => metricValue(connector.socketPath, 'asya_state_memory_budget_used_bytes', { use: 'download' });
    await waitFor(async () => (await used()) > 0, 'the window to be reserved');
    assert.equal(await used(), 2 * STREAMS * RANGE, 'the window: streams × range, charged twice (the garbage around each range), reserved once');
    res.destroy();
    await waitFor(async () => (await used()) === 0, 'the window to be given back');
  });

  it('an overwrite during the read cuts the answer: what arrived is the old version\'s start, never the new bytes, and the log says so', async () => {
    const size = 40 * MIB;
    const old = patterned(size, 21);
    await putDirect(emulator, bucket, 'ranged/overwritten.bin', old);
    const since = proxy.seenRequests.length;
    const res = await openGet('ranged/overwritten.bin');
    res.pause();
    // The first window of ranges is fetched (pinned to the old generation) while the client waits.
    await waitFor(() => rangeReads(since).length >= STREAMS, 'the first ranges to be requested');
    await putDirect(emulator, bucket, 'ranged/overwritten.bin', patterned(size, 99));
    const received: Buffer[] = [];
    const outcome = await new Promise<string>((resolve) => {
      res.on('data', (chunk: Buffer) => { received.push(chunk); });
      res.on('end', () => { resolve('end'); });
      res.on('error', () => { resolve('cut'); });
      res.on('aborted', () => { resolve('cut'); });
      res.resume();
    });
    const got = Buffer.concat(received);
    assert.equal(outcome, 'cut', 'the answer is cut short');
    assert.ok(got.length < size, `fewer bytes than announced (${got.length})`);
    assert.ok(got.equals(old.subarray(0, got.length)), 'every byte that arrived is the old version\'s');
    await waitFor(() => connector.output.some((line) => line.includes('download cut: GCS failed after the answer started')), 'the warning');
  });
});
