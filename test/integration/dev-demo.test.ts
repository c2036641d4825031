/** The README's run command: `npm run dev -- --once` starts everything, demos, and stops cleanly. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const DEV = join(import.meta.dirname, '..', '..', 'scripts', 'dev.ts');

describe('the local demo', () => {
  for (const variant of ['cas', 'lww']) {
    it(`runs the ${variant} variant against an emulator it starts, and stops cleanly`, () => {
      const run = spawnSync(process.execPath, [DEV, '--once', '--variant', variant, '--bucket', `demo-test-${variant}`], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /open\("cache\/result.json","w"\) → PUT\s+→ 204/);
      assert.match(run.stdout, variant === 'cas' ? /PUT \(our write\).*→ 409/ : /PUT \(our write\).*→ 204/);
      assert.match(run.stdout, /socket removed: true/);
    });
  }
});
