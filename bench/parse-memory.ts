/**
 * The tightest memory row, by hand: `POST /query` sorting 1 MiB documents made of small
 * objects (`{"a":1},` repeated), 1, 2, 4 and 8 queries at once, each on a fresh connector
 * run as its image runs it (dist/, the image's V8 flags). Prints each run's peak RSS
 * (VmHWM) and its RSS at idle, so the figures in docs/memory.md ("Forced collection") can
 * be taken again; fault row "query sorting 1 MiB documents on a field of small objects"
 * is the same load with a pass/fail line at 128 MiB.
 *
 *   npm run bench:parse-memory [-- --runs 5] [-- --skip-build]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startConnector } from '../test/helpers/connector.ts';
import { request } from '../test/helpers/socket-http.ts';
import { buildDist, DIST_ARGS } from './dist.ts';
import { startMemoryBackend } from './start-memory-backend.ts';

const { values: args } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, 'skip-build': { type: 'boolean', default: false } },
});
const RUNS = Number(args.runs);
const BUCKET = 'bench';
const item = '{"a":1},';
const DOCUMENT = `{"k":[${item.repeat(Math.floor((1024 * 1024 - 16) / item.length))}{"a":1}]}`;

function residentMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const kib = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return Math.round(kib / 102.4) / 10;
}

if (!args['skip-build']) buildDist();
const backend = await startMemoryBackend();
try {
  for (let i = 0; i < 5; i++) {
    const res = await fetch(`${backend.origin}/upload/storage/v1/b/${BUCKET}/o?uploadType=media&name=big/${i}.json`, { method: 'POST', body: DOCUMENT });
    await res.arrayBuffer();
  }
  console.log(`5 documents of ${DOCUMENT.length} bytes; ${RUNS} runs per row, each on a fresh connector`);
  for (const queries of [1, 2, 4, 8]) {
    const peaks: number[] = [];
    let idle = 0;
    let statuses = '';
    for (let run = 0; run < RUNS; run++) {
      const connector = await startConnector({ emulatorOrigin: backend.origin, bucket: BUCKET, variant: 'lww', args: DIST_ARGS, env: {} });
      try {
        idle = residentMiB(connector.process.pid ?? 0, 'VmRSS');
        const answers = await Promise.all(Array.from({ length: queries }, () =>
          request(connector.socketPath, '/query', { method: 'POST', body: JSON.stringify({ prefix: 'big/', sort: ['k'] }), headers: { 'content-type': 'application/json' } })));
        statuses = [...new Set(answers.map((answer) => answer.status))].join('/');
        peaks.push(connector.peakRssMiB());
      } finally {
        await connector.stop();
      }
    }
    console.log(`${queries} queries at once: answered ${statuses}; idle ${idle} MiB; peak RSS ${Math.min(...peaks)}–${Math.max(...peaks)} MiB (${peaks.join(', ')})`);
  }
} finally {
  backend.stop();
}
