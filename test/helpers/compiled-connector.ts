/**
 * The connector as a pod runs it: compiled and bundled as the image builds it (`npm run
 * build`, into a directory of the caller's), started with the image's V8 flags. Memory
 * figures are taken this way; type stripping at run time costs some 36 MiB more.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { START_FLAGS } from './connector.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** Compiles src/ into `outDir`; answers the node arguments that start it as the image does. */
export function compiledConnectorArgs(outDir: string): string[] {
  const built = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', outDir], { stdio: 'inherit' });
  if (built.status !== 0) throw new Error(`the connector does not compile as the image builds it (tsc exited ${built.status})`);
  const bundled = spawnSync(process.execPath, [join(ROOT, 'scripts', 'bundle-connector.ts'), outDir], { stdio: 'inherit' });
  if (bundled.status !== 0) throw new Error(`the compiled connector does not bundle as the image builds it (exited ${bundled.status})`);
  return [...START_FLAGS, join(outDir, 'connector.js')];
}
