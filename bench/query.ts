/**
 * `POST /query` over 1,000 JSON documents of about 1 KiB, with a filter and a sort, on the
 * in-memory backend delaying every request (listings included) by a GCS-like latency.
 * The same connector is run reading 1 document at a time (Asya's way: the reference) and
 * several at a time (the fixed setting `queryReads`), side by side in one run; it runs as its image
 * does (dist/, the image's V8 flags). Writes bench/results/query.json and
 * docs/benchmarks-query.md.
 *
 *   npm run bench:query [-- --quick] [-- --latency-ms 20 --rounds 5]
 */
import { cpus } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { startConnector } from '../test/helpers/connector.ts';
import { request } from '../test/helpers/socket-http.ts';
import { buildDist, TUNED_DIST_ARGS } from './dist.ts';
import { median } from './load.ts';
import { startMemoryBackend } from './start-memory-backend.ts';

const ROOT = join(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'latency-ms': { type: 'string', default: '20' },
    rounds: { type: 'string' },
    'skip-build': { type: 'boolean', default: false },
  },
});
const QUICK = args.quick;
const LATENCY_MS = Number(args['latency-ms']);
const ROUNDS = Number(args.rounds ?? (QUICK ? 1 : 5));
const DOCUMENTS = 1_000;
const BUCKET = 'bench';
const QUERY = { prefix: 'orders/', filter: { status: 'open', amount: { $gte: 100 } }, sort: ['-amount', 'id'], limit: 50 };
/** Reads in flight: 1 is the one-at-a-time reference. */
/** The fixed setting's value. */
const DEFAULT_READS = 32;
const READS = QUICK ? [1, 32] : [1, 8, 16, 32, 64];

interface QueryRow {
  reads: number;
  /** Median wall time of the query, seconds. */
  seconds: number;
  rounds: number;
  documents_read: number;
  total: number;
  peak_rss_mib: number;
}

/** About 1 KiB of JSON: an order with a few fields and a padded note. */
function orderDocument(i: number): string {
  const document = { id: `order-${String(i).padStart(5, '0')}`, status: i % 3 === 0 ? 'closed' : 'open', amount: (i * 7919) % 1000, customer: { name: `customer ${i % 97}`, tier: i % 5 }, note: '' };
  const text = JSON.stringify(document);
  return JSON.stringify({ ...document, note: 'n'.repeat(Math.max(0, 1024 - text.length)) });
}

async function main(): Promise<void> {
  if (!args['skip-build']) buildDist();
  const backend = await startMemoryBackend({ firstByteMs: LATENCY_MS });
  const rows: QueryRow[] = [];
  try {
    console.log(`[query] seeding ${DOCUMENTS} documents of ~1 KiB; every backend request waits ${LATENCY_MS} ms`);
    const pending: Array<Promise<void>> = [];
    for (let i = 0; i < DOCUMENTS; i++) {
      pending.push(fetch(`${backend.origin}/upload/storage/v1/b/${BUCKET}/o?uploadType=media&name=orders/${String(i).padStart(5, '0')}.json`, { method: 'POST', body: orderDocument(i) }).then(async (res) => { await res.arrayBuffer(); }));
      if (pending.length === 64) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    for (const reads of READS) {
      const connector = await startConnector({ emulatorOrigin: backend.origin, bucket: BUCKET, variant: 'lww', args: TUNED_DIST_ARGS, settings: { queryReads: reads } });
      try {
        const seconds: number[] = [];
        let last = { read: 0, total: 0 };
        // The reference takes ~20 s a round: once is enough to see it.
        for (let round = 0; round < (reads === 1 ? 1 : ROUNDS); round++) {
          const started = performance.now();
          const answer = await request(connector.socketPath, '/query', { method: 'POST', body: JSON.stringify(QUERY) });
          seconds.push((performance.now() - started) / 1000);
          if (answer.status !== 200) throw new Error(`query answered ${answer.status}: ${answer.text()}`);
          last = { read: Number(answer.headers['x-query-read']), total: answer.json<{ total: number }>().total };
        }
        const row = { reads, seconds: round3(median(seconds)), rounds: seconds.length, documents_read: last.read, total: last.total, peak_rss_mib: connector.peakRssMiB() };
        console.log(`[query] reads ${String(reads).padStart(2)}: ${row.seconds.toFixed(2)} s (median of ${row.rounds}), ${row.documents_read} read, ${row.total} matched, peak RSS ${row.peak_rss_mib} MiB`);
        rows.push(row);
      } finally {
        await connector.stop();
      }
    }
  } finally {
    backend.stop();
  }
  const results = { node: process.version, cpus: cpus().length, date: new Date().toISOString(), command: `npm run bench:query${QUICK ? ' -- --quick' : ''}`, latency_ms: LATENCY_MS, documents: DOCUMENTS, query: QUERY, rows };
  const outFile = join(import.meta.dirname, 'results', QUICK ? 'query-quick.json' : 'query.json');
  writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);
  if (!QUICK) writeFileSync(join(ROOT, 'docs', 'benchmarks-query.md'), render(results));
  console.log(`wrote ${outFile}${QUICK ? '' : ' and docs/benchmarks-query.md'}`);
}

function render(results: { node: string; cpus: number; date: string; command: string; latency_ms: number; documents: number; query: unknown; rows: QueryRow[] }): string {
  const reference = results.rows.find((row) => row.reads === 1);
  const best = results.rows.find((row) => row.reads === DEFAULT_READS);
  const lines = [
    '# Benchmark: `POST /query`',
    '',
    `Generated by \`${results.command}\` on ${results.date.slice(0, 10)}: Node ${results.node}, ${results.cpus} CPUs. ${results.documents.toLocaleString('en')} JSON documents of about 1 KiB under one prefix, `
      + `on the in-memory backend (bench/memory-backend.ts) delaying every request by ${results.latency_ms} ms, as GCS's per-request latency does; the connector runs as its image does (dist/, the image's V8 flags, LWW). `
      + 'Reads 1 is the one-at-a-time reference (how Asya\'s connector fetches); the others are the same connector with the setting `queryReads` changed (bench/tuned-connector.mjs), measured in the same run. Time is the median of the rounds, from request to the last byte of the answer.',
    '',
    `Query: \`${JSON.stringify(results.query)}\``,
    '',
    '| documents read at once | seconds | × the reference | documents read | matches | connector peak RSS MiB |',
    '|---|---|---|---|---|---|',
    ...results.rows.map((row) => `| ${row.reads}${row.reads === DEFAULT_READS ? ' (default)' : row.reads === 1 ? ' (reference)' : ''} | ${row.seconds.toFixed(2)} | ${reference === undefined ? '—' : (reference.seconds / row.seconds).toFixed(1)} | ${row.documents_read} | ${row.total} | ${row.peak_rss_mib.toFixed(1)} |`),
    '',
    '## Targets',
    '',
    '| target | measured | |',
    '|---|---|---|',
    `| ≤ 1.5 s for 1,000 documents at the default | ${best === undefined ? '—' : `${best.seconds.toFixed(2)} s`} | ${best === undefined ? 'not measured' : best.seconds <= 1.5 ? 'met' : '**missed**'} |`,
    `| the one-at-a-time reference ≥ 20 s | ${reference === undefined ? '—' : `${reference.seconds.toFixed(2)} s`} | ${reference === undefined ? 'not measured' : reference.seconds >= 20 ? 'as expected' : 'faster than expected'} |`,
    `| peak RSS within the 128 MiB limit | ${Math.max(...results.rows.map((row) => row.peak_rss_mib)).toFixed(1)} MiB | ${Math.max(...results.rows.map((row) => row.peak_rss_mib)) <= 128 ? 'met' : '**missed**'} |`,
    '',
    readFileSync(join(import.meta.dirname, 'notes-query.md'), 'utf8').trimEnd(),
    '',
  ];
  return lines.join('\n');
}

function round3(value: number): number { return Math.round(value * 1000) / 1000; }

await main();
