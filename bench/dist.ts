/** The connector as its image runs it: compiled to dist/, started with npm start's V8 flags. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

export const DIST_ARGS: readonly string[] = ['--max-semi-space-size=2', '--max-old-space-size=64', join(ROOT, 'dist', 'main.js')];
export const SRC_ARGS: readonly string[] = ['--max-semi-space-size=2', '--max-old-space-size=64', join(ROOT, 'src', 'main.ts')];

/** Compiles dist/ as `npm run build` does. */
export function buildDist(): void {
  console.log('building dist/ (the connector as the image runs it)');
  const result = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (result.status !== 0) throw new Error('npm run build failed');
}
