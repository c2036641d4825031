/**
 * The worker behind {@link SyncBridge}: runs each synchronous fs call with an async
 * {@link StateClient}, posts the answer, then wakes the blocked thread.
 */
import { workerData as rawWorkerData } from 'node:worker_threads';
import { StateClient } from './state-client.ts';
import { StateDirent, StateStats } from './stats.ts';
import { serializeError, type SyncReply, type SyncRequest, type SyncWorkerData } from './sync-bridge.ts';

const workerData = rawWorkerData as SyncWorkerData;
const clients = new Map(workerData.mounts.map((mount) => [mount.name, StateClient.forMount(mount, workerData.timeoutMs)]));

workerData.port.on('message', (request: SyncRequest) => {
  void answer(request).then((reply) => {
    workerData.port.postMessage(reply);
    Atomics.store(request.done, 0, 1);
    Atomics.notify(request.done, 0);
  });
});

async function answer(request: SyncRequest): Promise<SyncReply> {
  const client = clients.get(request.mount);
  const path = typeof request.args[0] === 'string' ? request.args[0] : '';
  try {
    if (client === undefined) throw new Error(`no state mount named ${request.mount}`);
    const methods = client as unknown as Record<SyncRequest['operation'], (...args: unknown[]) => Promise<unknown>>;
    const value = await methods[request.operation](...request.args);
    if (Buffer.isBuffer(value)) return { ok: true, kind: 'bytes', value };
    if (value instanceof StateStats) return { ok: true, kind: 'stats', value: value.toData() };
    if (Array.isArray(value) && value[0] instanceof StateDirent) return { ok: true, kind: 'dirents', value: (value as StateDirent[]).map((dirent) => dirent.toData()) };
    return { ok: true, kind: 'value', value };
  } catch (error) {
    return { ok: false, error: serializeError(error, { syscall: request.operation, path }) };
  }
}
