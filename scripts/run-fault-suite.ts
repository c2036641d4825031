/**
 * `npm run test:faults`: the fault suite at full length (a 5-minute soak unless
 * SOAK_SECONDS says otherwise, the memory rows at full size unless MEMORY_ROWS says otherwise), then docs/reliability.md rendered from the figures each
 * check recorded. The main test command runs the same checks with a short soak and leaves
 * the docs alone.
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const figuresFile = join(ROOT, 'run', 'fault-figures.jsonl');
mkdirSync(join(ROOT, 'run'), { recursive: true });
rmSync(figuresFile, { force: true });
const soakSeconds = process.env.SOAK_SECONDS ?? '300';

const files = [
  'test/faults/hostile-input.test.ts',
  'test/faults/hostile-queries.test.ts',
  'test/faults/process-and-client-faults.test.ts',
  'test/faults/soak.test.ts',
  'test/faults/memory-bounds.test.ts',
  'test/integration/backend-faults.test.ts',
  'test/integration/large-and-aborted-uploads.test.ts',
  'test/integration/keys-and-prefix.test.ts',
  'test/integration/startup-and-shutdown.test.ts',
];
const started = Date.now();
const run = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=900000', '--test-reporter=spec', ...files], {
  cwd: ROOT,
  stdio: 'inherit',
  env: { ...process.env, FAULT_FIGURES_FILE: figuresFile, SOAK_SECONDS: soakSeconds, MEMORY_ROWS: process.env.MEMORY_ROWS ?? 'full' },
});
if (run.status !== 0) {
  console.error('fault suite failed: docs/reliability.md left as it was');
  process.exit(run.status ?? 1);
}

const records = readFileSync(figuresFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
const rows = records.map(({ check, ...figures }) => `| ${String(check)} | ${Object.entries(figures).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join('<br>')} |`);
const template = readFileSync(join(ROOT, 'docs', 'reliability.template.md'), 'utf8');
const report = template
  .replace('{{command}}', `SOAK_SECONDS=${soakSeconds} MEMORY_ROWS=${process.env.MEMORY_ROWS ?? 'full'} npm run test:faults`)
  .replace('{{machine}}', `${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, ${new Date().toISOString().slice(0, 10)}, suite wall time ${Math.round((Date.now() - started) / 1000)} s`)
  .replace('{{rows}}', rows.join('\n'));
writeFileSync(join(ROOT, 'docs', 'reliability.md'), report);
console.log('docs/reliability.md written');
