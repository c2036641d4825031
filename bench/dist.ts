/** The connector as its image runs it: compiled and bundled into dist/connector.js, started with npm start's V8 flags. */
import { join } from 'node:path';
import { compiledConnectorArgs } from '../test/helpers/compiled-connector.ts';
import { START_ARGS, START_FLAGS } from '../test/helpers/connector.ts';

const ROOT = join(import.meta.dirname, '..');

export const DIST_ARGS: readonly string[] = [...START_FLAGS, join(ROOT, 'dist', 'connector.js')];
/** The compiled connector with fixed settings changed (bench/tuned-connector.mjs), for rows that compare settings; give `settings` with it. */
export const TUNED_DIST_ARGS: readonly string[] = [...START_FLAGS, join(ROOT, 'bench', 'tuned-connector.mjs')];
/** `npm start`'s own arguments: src/main.ts with type stripping. */
export const SRC_ARGS: readonly string[] = START_ARGS;

/** Compiles and bundles dist/ as `npm run build` does. */
export function buildDist(): void {
  console.log('building dist/ (the connector as the image runs it)');
  compiledConnectorArgs(join(ROOT, 'dist'));
}
