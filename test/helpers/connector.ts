/**
 * The real connector for tests: `node src/main.ts <variant>` as a child process with a
 * test environment, a socket in a fresh directory, and its log lines kept for assertions.
 * A test that needs fixed settings changed (a shorter GCS timeout, smaller chunks) runs
 * test/helpers/tuned-main.ts instead, which is main.ts with those settings.
 */
import { after, before } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../src/config.ts';
import { memoryMiB } from './proc.ts';
import { startEmulator, type Emulator } from './emulator.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** The arguments `npm start` gives node, so tests run the connector exactly as its entrypoint does. */
export const START_ARGS: readonly string[] = (() => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const [command, ...args] = pkg.scripts.start.split(' ');
  if (command !== 'node') throw new Error('package.json "start" is expected to be "node <flags> src/main.ts"');
  return args.map((arg) => (arg.endsWith('.ts') ? join(ROOT, arg) : arg));
})();

/** `npm start`'s V8 flags alone, which the images run too (docker/Dockerfile). */
export const START_FLAGS: readonly string[] = START_ARGS.filter((arg) => arg.startsWith('--'));

const TUNED_MAIN = join(import.meta.dirname, 'tuned-main.ts');

/** Longer than the connector's own grace (25 s) and its hard stop after it. */
const STOP_DEADLINE_MS = 45_000;

export interface Connector {
  readonly socketPath: string;
  readonly process: ChildProcess;
  /** Log lines (stdout) and stderr so far. */
  readonly output: string[];
  /** Peak resident set size so far, in MiB (VmHWM). */
  peakRssMiB(): number;
  /** SIGTERM and wait; answers the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
  /** Waits for the process to exit by itself; answers the exit code. */
  exited(): Promise<number | null>;
}

export interface ConnectorOptions {
  readonly emulatorOrigin: string;
  readonly bucket: string;
  readonly variant: 'lww' | 'cas';
  readonly env?: Readonly<Record<string, string>>;
  /** Fixed settings changed for this test: run through tuned-main.ts, or through the tuned entry `args` names. */
  readonly settings?: Partial<Config>;
  /** Reuse a socket path (for restart tests). */
  readonly socketPath?: string;
  /** Told of each output line as it arrives (the local demo shows them). */
  readonly onLine?: (line: string) => void;
  /** Node arguments instead of `npm start`'s, the variant excluded (the benchmarks run the compiled dist/connector.js). */
  readonly args?: readonly string[];
  /**
   * Run in a process group of its own, so that a terminal's Ctrl-C (SIGINT to the whole
   * foreground group) reaches only the parent, which then stops it with one SIGTERM.
   */
  readonly ownProcessGroup?: boolean;
}

/** Environment for a connector; tests of config errors start from this and remove parts. */
export function connectorEnv(options: ConnectorOptions, socketPath: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    CONNECTOR_SOCKET: socketPath,
    STATE_BUCKET: options.bucket,
    STORAGE_EMULATOR_HOST: options.emulatorOrigin,
    // Never let google-auth-library look for a GCE metadata server from a test.
    METADATA_SERVER_DETECTION: 'none',
    ...options.env,
  };
}

/** The node arguments that run a connector as `options` asks. */
function argsFor(options: Pick<ConnectorOptions, 'variant' | 'settings' | 'args'>): string[] {
  if (options.settings === undefined) return [...(options.args ?? START_ARGS), options.variant];
  return [...(options.args ?? [...START_FLAGS, TUNED_MAIN]), options.variant, JSON.stringify(options.settings)];
}

/** Runs the connector with `env` and `args` (the variant) until it exits; answers its exit code and output. */
export async function runToExit(env: Readonly<Record<string, string>>, args: readonly string[] = ['lww'], timeoutMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...START_ARGS, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

export async function startConnector(options: ConnectorOptions): Promise<Connector> {
  const dir = mkdtempSync(join(tmpdir(), 'asya-connector-'));
  const socketPath = options.socketPath ?? join(dir, 'state.sock');
  const child = spawn(process.execPath, argsFor(options), {
    env: connectorEnv(options, socketPath),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.ownProcessGroup === true,
  });
  const output: string[] = [];
  let pending = '';
  const onData = (chunk: Buffer): void => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    output.push(...lines);
    if (options.onLine !== undefined) lines.forEach(options.onLine);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`connector did not start within 15 s:\n${output.join('\n')}`)); }, 15_000);
    const check = (): void => {
      if (output.some((line) => line.includes('"message":"serving"'))) {
        clearTimeout(timer);
        child.stdout.off('data', check);
        resolve();
      }
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`connector exited with ${code} before serving:\n${output.join('\n')}${pending}`));
    });
  });
  child.removeAllListeners('exit');

  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return {
    socketPath,
    process: child,
    output,
    peakRssMiB: () => memoryMiB(child.pid ?? 0, 'VmHWM'),
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      // A connector that does not stop must fail its test, not hang the suite.
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<'stuck'>((resolve) => { timer = setTimeout(() => { resolve('stuck'); }, STOP_DEADLINE_MS); });
      const outcome = await Promise.race([exited, stuck]);
      clearTimeout(timer);
      if (outcome !== 'stuck') return outcome;
      child.kill('SIGKILL');
      await exited;
      throw new Error(`the connector did not exit within ${STOP_DEADLINE_MS / 1000} s of SIGTERM; its last lines:\n${output.slice(-20).join('\n')}`);
    },
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
    exited: async () => exited,
  };
}

/** Runs `fn` against a connector started for it on `emulator`'s `bucket`, and stops the connector whatever happens. */
export async function withConnector<T>(emulator: { readonly origin: string }, options: Omit<ConnectorOptions, 'emulatorOrigin'>, fn: (connector: Connector) => Promise<T>): Promise<T> {
  const connector = await startConnector({ ...options, emulatorOrigin: emulator.origin });
  try {
    return await fn(connector);
  } finally {
    await connector.stop();
  }
}

/** An emulator with a bucket and a connector on it, for the tests of one file or describe block. */
export interface ConnectorSuite {
  readonly emulator: Emulator;
  readonly connector: Connector;
  readonly socketPath: string;
  readonly bucket: string;
}

/**
 * Starts fake-gcs-server, creates `bucket`, and starts a connector on it before the
 * enclosing tests (node:test `before`), stopping both after them. The returned object's
 * fields are there once the tests run.
 */
export function connectorSuite(options: Omit<ConnectorOptions, 'emulatorOrigin'>): ConnectorSuite {
  let started: { emulator: Emulator; connector: Connector } | undefined;
  const get = (): { emulator: Emulator; connector: Connector } => {
    if (started === undefined) throw new Error('connectorSuite: used before its before() hook ran');
    return started;
  };
  before(async () => {
    const emulator = await startEmulator();
    await emulator.createBucket(options.bucket);
    started = { emulator, connector: await startConnector({ ...options, emulatorOrigin: emulator.origin }) };
  });
  after(async () => {
    await started?.connector.stop();
    await started?.emulator.stop();
  });
  return {
    get emulator() { return get().emulator; },
    get connector() { return get().connector; },
    get socketPath() { return get().connector.socketPath; },
    bucket: options.bucket,
  };
}
