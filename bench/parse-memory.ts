/**
 * The tightest memory row, by hand: `POST /query` sorting documents made of small objects
 * (`{"a":1},` repeated), 1, 2, 4 and 8 queries at once, each on a fresh connector run as
 * its image runs it (dist/, the image's V8 flags). Documents at the largest size a query
 * parses (the fixed setting) are compared with 1 MiB documents on a connector whose cap is
 * raised to read them, the cap before 2026-12-05. Prints each row's peak RSS (VmHWM) and
 * the idle RSS; fault row "query sorting documents of the largest size on a field of small
 * objects" is the same load with a pass/fail line at 128 MiB.
 *
 *   npm run bench:parse-memory [-- --runs 5] [-- --skip-build]
 */
import { parseArgs } from 'node:util';
import { FIXED_SETTINGS } from '../src/config.ts';
import { startConnector } from '../test/helpers/connector.ts';
import { memoryMiB } from '../test/helpers/proc.ts';
import { request } from '../test/helpers/socket-http.ts';
import { buildDist, DIST_ARGS, TUNED_DIST_ARGS } from './dist.ts';
import { startMemoryBackend } from './start-memory-backend.ts';

const { values: args } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, 'skip-build': { type: 'boolean', default: false } },
});
const RUNS = Number(args.runs);
const BUCKET = 'bench';
const MIB = 1024 * 1024;

function documentOf(bytes: number): string {
  const item = '{"a":1},';
  return `{"k":[${item.repeat(Math.floor((bytes - 16) / item.length))}{"a":1}]}`;
}

if (!args['skip-build']) buildDist();
const backend = await startMemoryBackend();
try {
  const cases = [
    { label: `${FIXED_SETTINGS.queryDocumentMaxBytes / 1024} KiB documents (the cap)`, prefix: 'cap/', bytes: FIXED_SETTINGS.queryDocumentMaxBytes, tuned: false },
    { label: '1 MiB documents (cap raised to 1 MiB)', prefix: 'mib/', bytes: MIB, tuned: true },
  ];
  for (const { prefix, bytes } of cases) {
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${backend.origin}/upload/storage/v1/b/${BUCKET}/o?uploadType=media&name=${prefix}${i}.json`, { method: 'POST', body: documentOf(bytes) });
      await res.arrayBuffer();
    }
  }
  console.log(`5 documents per row, sorted on their one field; ${RUNS} runs per row, each on a fresh connector`);
  for (const { label, prefix, tuned } of cases) {
    for (const queries of [1, 2, 4, 8]) {
      const peaks: number[] = [];
      let idle = 0;
      let statuses = '';
      for (let run = 0; run < RUNS; run++) {
        const connector = await startConnector(tuned
          ? { emulatorOrigin: backend.origin, bucket: BUCKET, variant: 'lww', args: TUNED_DIST_ARGS, settings: { queryDocumentMaxBytes: MIB } }
          : { emulatorOrigin: backend.origin, bucket: BUCKET, variant: 'lww', args: DIST_ARGS });
        try {
          idle = memoryMiB(connector.process.pid ?? 0, 'VmRSS');
          const answers = await Promise.all(Array.from({ length: queries }, () =>
            request(connector.socketPath, '/query', { method: 'POST', body: JSON.stringify({ prefix, sort: ['k'] }), headers: { 'content-type': 'application/json' } })));
          statuses = [...new Set(answers.map((answer) => answer.status))].join('/');
          peaks.push(connector.peakRssMiB());
        } finally {
          await connector.stop();
        }
      }
      console.log(`${label}, ${queries} queries at once: answered ${statuses}; idle ${idle} MiB; peak RSS ${Math.min(...peaks)}–${Math.max(...peaks)} MiB (${peaks.join(', ')})`);
    }
  }
} finally {
  backend.stop();
}
