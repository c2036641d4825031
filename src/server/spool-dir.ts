/**
 * The directory a connector spools request bodies into: a fresh `mkdtemp` directory per
 * process under CONNECTOR_TMPDIR, named after the socket path (`asya-spool-<hash>-XXXXXX`,
 * mode 0700), so nobody can create it in advance to block start-up or read the bodies.
 *
 * A connector killed mid-upload leaves its directory behind; the next one on the same
 * socket path removes such leftovers at start. That is safe because start-up has already
 * made sure no live process serves on that socket. Only real directories owned by this
 * user are removed: anything else with a matching name (another user's, a symlink) is
 * left alone.
 */
import { lstat, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { socketScopedDir } from '../socket-scoped-dir.ts';

/** Creates this process's spool directory for `socketPath`; answers it and how many stale files it removed. */
export async function prepareSpoolDir(tmpDir: string, socketPath: string): Promise<{ dir: string; removedStale: number }> {
  const scoped = socketScopedDir(tmpDir, 'spool', socketPath);
  const removedStale = await removeLeftovers(dirname(scoped), basename(scoped));
  await mkdir(tmpDir, { recursive: true });
  const dir = await mkdtemp(`${scoped}-`);
  return { dir, removedStale };
}

async function removeLeftovers(parent: string, name: string): Promise<number> {
  let entries: string[];
  try {
    entries = await readdir(parent);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  const uid = process.getuid?.();
  let removed = 0;
  for (const entry of entries.filter((e) => e === name || e.startsWith(`${name}-`))) {
    const path = join(parent, entry);
    const stats = await lstat(path).catch(() => undefined);
    if (stats === undefined || !stats.isDirectory() || (uid !== undefined && stats.uid !== uid)) continue;
    removed += (await readdir(path)).length;
    await rm(path, { recursive: true, force: true });
  }
  return removed;
}
