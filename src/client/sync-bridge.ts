/**
 * Synchronous fs calls on state mounts (`readFileSync`, `existsSync`, ...): the call is
 * handed to a worker thread that runs it with its own {@link StateClient}, and this
 * thread blocks on `Atomics.wait` until the worker answers. The worker starts on the
 * first synchronous call and does not keep the process alive; `node:worker_threads` is
 * loaded only then, so a process that never makes one does not pay for it.
 */
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as WorkerThreads from 'node:worker_threads';
import type { MessagePort, Worker } from 'node:worker_threads';
import { StateFsError, type ExistsReason } from './fs-errors.ts';
import type { StateMount } from './mounts.ts';
import { StateDirent, StateStats, type DirentData, type StatsData } from './stats.ts';

/** The client methods the worker runs. */
export type SyncOperation = 'readFile' | 'writeFile' | 'appendFile' | 'exists' | 'stat' | 'lstat' | 'access' | 'readdir' | 'unlink' | 'rm' | 'rmdir' | 'mkdir' | 'realpath';

export interface SyncRequest {
  readonly mount: string;
  readonly operation: SyncOperation;
  readonly args: readonly unknown[];
  readonly done: Int32Array;
}

/** What crosses back from the worker: plain data only. */
export type SyncReply =
  | { readonly ok: true; readonly kind: 'value'; readonly value: unknown }
  | { readonly ok: true; readonly kind: 'bytes'; readonly value: Uint8Array }
  | { readonly ok: true; readonly kind: 'stats'; readonly value: StatsData }
  | { readonly ok: true; readonly kind: 'dirents'; readonly value: DirentData[] }
  | { readonly ok: false; readonly error: SerializedError };

export interface SerializedError {
  readonly code: string;
  readonly syscall: string;
  readonly path: string;
  readonly detail?: string;
  readonly status?: number;
  readonly connectorCode?: string;
  readonly reason?: ExistsReason;
  readonly message: string;
}

export interface SyncWorkerData {
  readonly mounts: readonly StateMount[];
  readonly timeoutMs: number;
  readonly port: MessagePort;
}

let workerThreads: typeof WorkerThreads | undefined;

/** node:worker_threads, loaded at the first synchronous call. */
function threads(): typeof WorkerThreads {
  workerThreads ??= createRequire(import.meta.url)('node:worker_threads') as typeof WorkerThreads;
  return workerThreads;
}

export class SyncBridge {
  readonly #mounts: readonly StateMount[];
  readonly #timeoutMs: number;
  #worker: Worker | undefined;
  #port: MessagePort | undefined;

  constructor(mounts: readonly StateMount[], timeoutMs: number) {
    this.#mounts = mounts;
    this.#timeoutMs = timeoutMs;
  }

  /** Runs `operation` on `mount` in the worker and blocks until it answers. */
  call(mount: string, operation: SyncOperation, args: readonly unknown[]): unknown {
    const port = this.#start();
    const done = new Int32Array(new SharedArrayBuffer(4));
    port.postMessage({ mount, operation, args, done } satisfies SyncRequest);
    Atomics.wait(done, 0, 0);
    const message = threads().receiveMessageOnPort(port);
    if (message === undefined) throw new Error('state sync bridge: the worker signalled without an answer');
    return revive(message.message as SyncReply);
  }

  close(): void {
    void this.#worker?.terminate();
    this.#port?.close();
    this.#worker = undefined;
    this.#port = undefined;
  }

  #start(): MessagePort {
    if (this.#port !== undefined) return this.#port;
    const { MessageChannel, Worker: WorkerThread } = threads();
    const { port1, port2 } = new MessageChannel();
    // The worker is this module's sibling, compiled (.js) or not (.ts), like this file.
    const here = fileURLToPath(import.meta.url);
    const workerUrl = new URL(`./sync-worker${extname(here)}`, import.meta.url);
    const workerData: SyncWorkerData = { mounts: this.#mounts, timeoutMs: this.#timeoutMs, port: port2 };
    this.#worker = new WorkerThread(workerUrl, { workerData, transferList: [port2] });
    this.#worker.unref();
    port1.unref();
    this.#port = port1;
    return port1;
  }
}

export function serializeError(error: unknown, fallback: { syscall: string; path: string }): SerializedError {
  if (error instanceof StateFsError) {
    return {
      code: error.code,
      syscall: error.syscall,
      path: error.path,
      message: error.message,
      ...(error.detail === undefined ? {} : { detail: error.detail }),
      ...(error.status === undefined ? {} : { status: error.status }),
      ...(error.connectorCode === undefined ? {} : { connectorCode: error.connectorCode }),
      ...(error.reason === undefined ? {} : { reason: error.reason }),
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'EIO', syscall: fallback.syscall, path: fallback.path, detail: message, message };
}

function revive(reply: SyncReply): unknown {
  if (!reply.ok) {
    const { code, syscall, path, detail, status, connectorCode, reason } = reply.error;
    throw new StateFsError(code, syscall, path, detail, {
      ...(status === undefined ? {} : { status }),
      ...(connectorCode === undefined ? {} : { connectorCode }),
      ...(reason === undefined ? {} : { reason }),
    });
  }
  switch (reply.kind) {
    case 'bytes': return Buffer.from(reply.value.buffer, reply.value.byteOffset, reply.value.byteLength);
    case 'stats': return new StateStats(reply.value);
    case 'dirents': return reply.value.map((data) => new StateDirent(data));
    case 'value': return reply.value;
  }
}
