/**
 * What `npm pack` puts in the package: the compiled connector, client and CLI, and the
 * docs; never the tests, benchmarks, scripts or sources.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { compiledConnectorArgs } from '../helpers/compiled-connector.ts';

const ROOT = join(import.meta.dirname, '..', '..');

describe('the npm package', () => {
  it('holds dist/, docs/, the README and package.json, and nothing else', () => {
    // Built here as `npm run build` builds it; --ignore-scripts: prepack's build is not what is checked.
    compiledConnectorArgs(join(ROOT, 'dist'));
    const packed = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(packed.status, 0, packed.stderr);
    const files = (JSON.parse(packed.stdout) as { files: { path: string }[] }[])[0]?.files.map((file) => file.path) ?? [];
    const tops = new Set(files.map((path) => path.split('/')[0]));
    assert.deepEqual([...tops].sort(), ['README.md', 'dist', 'docs', 'package.json']);
    for (const entry of ['dist/main.js', 'dist/connector.js', 'dist/client/index.js', 'dist/client/index.d.ts', 'dist/client/register.js', 'dist/cli/main.js']) {
      assert.ok(files.includes(entry), `${entry} is in the package`);
    }
    assert.deepEqual(files.filter((path) => path.startsWith('dist/store/memory/')), [], 'the in-memory store is for tests only and does not ship');
  });
});
