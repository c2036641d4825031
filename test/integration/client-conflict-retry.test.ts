/**
 * Concurrency through the client: 8 worker processes × 50 increments of one counter,
 * each increment the example handler (plain node:fs through the hooks) run by
 * runWithConflictRetry, against the CAS connector. The total must be exact: with the
 * client's If-Match through one shared connector, and without it (as the Python runtime
 * writes) with a connector per worker, as pods have.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCounter } from '../../examples/counter/run-workers.ts';
import { startConnector, type Connector } from '../helpers/connector.ts';
import { startEmulator, type Emulator } from '../helpers/emulator.ts';

let emulator: Emulator;
before(async () => {
  emulator = await startEmulator();
  await emulator.createBucket('client-counter');
});
after(async () => { await emulator.stop(); });

describe('runWithConflictRetry with 8 workers × 50 increments (cas)', () => {
  for (const { clientCompareAndSet, connectors } of [{ clientCompareAndSet: true, connectors: 1 }, { clientCompareAndSet: false, connectors: 8 }]) {
    const setup = `client If-Match ${clientCompareAndSet ? 'on' : 'off'}, ${connectors} connector${connectors === 1 ? '' : 's'}`;
    it(`ends with exactly 400 and no lost update (${setup})`, async () => {
      const started: Connector[] = await Promise.all(Array.from({ length: connectors }, () =>
        startConnector({ emulatorOrigin: emulator.origin, bucket: 'client-counter', variant: 'cas', env: { STATE_PREFIX: `if-match-${String(clientCompareAndSet)}` } })));
      try {
        const result = await runCounter(started.map((c) => c.socketPath), { workers: 8, increments: 50, clientCompareAndSet });
        console.log(`# counter (${setup}): final ${result.final} of ${result.expected}, ${result.conflicts} conflicts retried, ${result.seconds.toFixed(1)} s`);
        assert.equal(result.final, 400);
        assert.equal(result.lost, 0);
      } finally {
        await Promise.all(started.map((c) => c.stop()));
      }
    });
  }
});
