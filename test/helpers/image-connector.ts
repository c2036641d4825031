/**
 * One row of the memory fault suite: a fresh connector as a pod runs it (the bundle, the
 * image's V8 flags), one load, then what must hold after it: the process still runs and
 * serves, and its peak resident set stayed under the seed's 128Mi limit. The figures each
 * row returns are recorded for docs/reliability.md.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { compiledConnectorArgs } from './compiled-connector.ts';
import { startConnector, type Connector } from './connector.ts';
import { recordFigures } from './figures.ts';
import { metricValue, request } from './socket-http.ts';

const ROOT = join(import.meta.dirname, '..', '..');
export const LIMIT_MIB = 128;

export interface ImageRow {
  readonly variant: 'lww' | 'cas';
  readonly origin: string;
  readonly bucket: string;
  readonly env?: Record<string, string>;
  /** The row's name in docs/reliability.md. */
  readonly check: string;
}

let imageArgs: string[] | undefined;

/** Builds the bundle once per test file, as the image does. */
function args(): string[] {
  imageArgs ??= compiledConnectorArgs(join(ROOT, 'run', 'fault-dist'));
  return imageArgs;
}

export async function runImageRow(row: ImageRow, load: (connector: Connector) => Promise<Record<string, unknown>>): Promise<void> {
  const connector = await startConnector({ emulatorOrigin: row.origin, bucket: row.bucket, variant: row.variant, args: args(), env: row.env ?? {} });
  try {
    const figures = await load(connector);
    const peak = connector.peakRssMiB();
    assert.equal(connector.process.exitCode, null, 'the connector is still running');
    assert.equal((await request(connector.socketPath, '/healthz')).status, 200, 'and serving');
    recordFigures(row.check, { ...figures, peak_rss_mib: peak, limit_mib: LIMIT_MIB });
    assert.ok(peak < LIMIT_MIB, `peak RSS ${peak} MiB is under ${LIMIT_MIB} MiB`);
  } finally {
    await connector.stop();
  }
}

/** Runs `task` over `count` items with `width` at a time. */
export async function inParallel(count: number, width: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) await task(next++);
  }));
}

/** What `holdThenFinish` saw while the requests were held, and the raw answers once they were finished. */
export interface HeldRequests {
  readonly rssWhileHeldMiB: number;
  /** Bodies waiting for room in the memory budget while held. */
  readonly waiting: number;
  readonly answers: readonly string[];
}

/**
 * Sends `count` requests on the connector's socket, each whole but for the last byte of
 * its body; two seconds later reads the peak RSS and the bodies waiting for the budget,
 * then sends every last byte and collects the raw answers.
 */
export async function holdThenFinish(connector: Connector, count: number, build: (i: number) => { head: string; body: Buffer }): Promise<HeldRequests> {
  const held = await Promise.all(Array.from({ length: count }, (_, i) => new Promise<{ socket: Socket; last: Buffer }>((resolve) => {
    const { head, body } = build(i);
    const socket = connect({ path: connector.socketPath }, () => {
      socket.write(head);
      socket.write(body.subarray(0, body.length - 1));
      resolve({ socket, last: body.subarray(body.length - 1) });
    });
    socket.on('error', () => undefined);
  })));
  await sleep(2_000);
  const rssWhileHeldMiB = connector.peakRssMiB();
  const waiting = await metricValue(connector.socketPath, 'asya_state_memory_budget_waiting');
  const answers = await Promise.all(held.map(({ socket, last }) => new Promise<string>((resolve) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => { text += chunk.toString('latin1'); });
    socket.on('close', () => { resolve(text); });
    socket.write(last);
  })));
  return { rssWhileHeldMiB, waiting, answers };
}
