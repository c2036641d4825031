/**
 * The directory a connector spools request bodies into: one per socket path, under
 * CONNECTOR_TMPDIR. A connector killed mid-upload leaves its spool files behind; the next
 * one on the same socket path clears them at start. That is safe because start-up has
 * already made sure no live process serves on that socket, so nobody else uses the
 * directory, while connectors of other mounts sharing the temp dir keep theirs.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { socketScopedDir } from '../socket-scoped-dir.ts';

/** Creates (or empties) the spool directory for `socketPath`; answers it and how many stale files it removed. */
export async function prepareSpoolDir(tmpDir: string, socketPath: string): Promise<{ dir: string; removedStale: number }> {
  const dir = socketScopedDir(tmpDir, 'spool', socketPath);
  let removedStale = 0;
  try {
    removedStale = (await readdir(dir)).length;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return { dir, removedStale };
}
