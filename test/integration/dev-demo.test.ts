/** The README's run command: `npm run dev -- --once` starts everything, demos, and stops cleanly. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
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

  it('Ctrl-C (SIGINT to the whole terminal process group) drains the connector once and exits 0', async () => {
    // Detached: the demo leads a process group of its own, as a shell's foreground job does.
    const child = spawn(process.execPath, [DEV, '--variant', 'cas', '--bucket', 'demo-test-ctrl-c'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('Ctrl-C stops the connector')) resolve();
      });
      child.once('exit', () => { reject(new Error(`the demo exited before serving:\n${stdout}\n${stderr}`)); });
    });
    process.kill(-(child.pid ?? 0), 'SIGINT');
    assert.equal(await exited, 0, stderr);
    assert.match(stdout, /"message":"stopping: finishing requests in flight"/);
    assert.match(stdout, /"message":"stopped"/);
    assert.doesNotMatch(stdout, /second signal/);
  });
});
