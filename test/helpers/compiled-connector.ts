/**
 * The connector as a pod runs it: built as the image builds it (`scripts/build.ts`, what
 * `npm run build` runs, into a directory of the caller's), started with the image's V8
 * flags. Memory figures are taken this way: type stripping at run time holds more.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { START_FLAGS } from './connector.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** Builds the connector into `outDir` (emptied first); answers the node arguments that start it as the image does. */
export function compiledConnectorArgs(outDir: string): string[] {
  const built = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.ts'), outDir], { stdio: 'inherit' });
  if (built.status !== 0) throw new Error(`the connector does not build as the image builds it (scripts/build.ts exited ${built.status})`);
  return [...START_FLAGS, join(outDir, 'connector.js')];
}
