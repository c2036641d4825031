// The compiled connector (dist/, as the images run it) with fixed settings changed, for
// benchmarks that compare settings side by side: `node <flags> tuned-connector.mjs
// <variant> '<JSON of Config fields>'`. Plain JavaScript so that no type stripping runs
// in the measured process.
import process from 'node:process';
import { loadConfigOrExit, runProcess } from '../dist/wiring/run-process.js';

const [variant, settings = '{}'] = process.argv.slice(2);
await runProcess({ ...loadConfigOrExit(process.env, variant), ...JSON.parse(settings) });
