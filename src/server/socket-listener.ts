/**
 * Serving on a Unix socket: replacing a stale socket file (never a live one, never a
 * file that is not a socket), setting its mode, and closing gracefully.
 */
import { chmod, lstat, mkdir, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';

/** Start-up cannot take the socket path; the message says why. */
export class SocketPathError extends Error {
  override readonly name = 'SocketPathError';
}

/** True when something accepts connections on `path`. */
async function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => { resolve(false); });
  });
}

/** Removes a socket file left by a crashed process; refuses a live socket or another file. */
async function clearStaleSocket(path: string): Promise<boolean> {
  let stats;
  try {
    stats = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  if (!stats.isSocket()) throw new SocketPathError(`${path} exists and is not a socket; refusing to replace it (CONNECTOR_SOCKET)`);
  if (await isLive(path)) throw new SocketPathError(`another process is already serving on ${path} (CONNECTOR_SOCKET)`);
  await rm(path, { force: true });
  return true;
}

/**
 * Makes `path` ours: creates its directory and removes a stale socket file; refuses a live
 * socket or a file that is not a socket. Answers whether a stale socket was replaced.
 */
export async function claimSocketPath(path: string): Promise<{ replacedStale: boolean }> {
  await mkdir(dirname(path), { recursive: true });
  return { replacedStale: await clearStaleSocket(path) };
}

/** Listens on a claimed `path` and gives the socket file mode `mode`. */
export async function listenOnSocket(server: Server, path: string, mode: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(path, mode);
}

/**
 * Listens on a TCP port, on `host` or else every interface (kubelet probes and Prometheus
 * come in through the pod IP).
 */
export async function listenOnOpsPort(server: Server, port: number, host: string | undefined): Promise<Server> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, ...(host === undefined ? {} : { host }) }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/**
 * Stops accepting, lets requests in flight finish for up to `graceMs`, then cuts what
 * remains; the socket file is removed either way. Answers how many connections were cut.
 */
export async function closeGracefully(server: Server, path: string, graceMs: number): Promise<{ forced: boolean }> {
  let forced = false;
  const closed = new Promise<void>((resolve) => { server.close(() => { resolve(); }); });
  // Idle keep-alive connections would hold close() open; in-flight ones finish first.
  server.closeIdleConnections();
  const timer = setTimeout(() => {
    forced = true;
    server.closeAllConnections();
  }, graceMs);
  await closed;
  clearTimeout(timer);
  await rm(path, { force: true });
  return { forced };
}
