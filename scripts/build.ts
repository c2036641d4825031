/**
 * `node scripts/build.ts [outDir]` (`npm run build`; default `dist/`): what the image
 * builds, in one place for the Dockerfile, `npm run build` and the tests that run the
 * connector as a pod does. The directory is emptied, `tsconfig.build.json` compiled into
 * it (connector, client library with types, CLI), then the connector (`main.js` and the
 * ~50 modules it imports) bundled into one file, `connector.js`, which the images run.
 * Packages stay outside the bundle (google-auth-library is imported only for the
 * credential sources that need it).
 *
 * Why one file: Node's ES module loader pays per module (resolve, read, compile, link);
 * one file starts faster and idles lower (bench/notes.md has the measurement).
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';

const ROOT = join(import.meta.dirname, '..');
const outDir = resolve(process.argv[2] ?? join(ROOT, 'dist'));

rmSync(outDir, { recursive: true, force: true });
const compiled = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', outDir], { stdio: 'inherit' });
if (compiled.status !== 0) process.exit(compiled.status ?? 1);
// buildSync throws on an error, which ends the process with a non-zero status.
buildSync({
  entryPoints: [join(outDir, 'main.js')],
  outfile: join(outDir, 'connector.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  packages: 'external',
  logLevel: 'warning',
});
