/**
 * `npm run example:counter [-- --workers 8 --increments 50]`: starts fake-gcs-server and
 * the connectors, runs the counter demo, stops everything.
 */
import { parseArgs } from 'node:util';
import { startEmulator } from '../../test/helpers/emulator.ts';
import { counterDemo } from './counter-demo.ts';

const { values } = parseArgs({ options: { workers: { type: 'string', default: '8' }, increments: { type: 'string', default: '50' } } });
const workers = Number(values.workers);
const increments = Number(values.increments);
if (!(Number.isInteger(workers) && workers >= 1 && Number.isInteger(increments) && increments >= 1)) throw new Error('--workers and --increments are whole numbers ≥ 1');

const emulator = await startEmulator();
try {
  await emulator.createBucket('asya-counter-demo');
  await counterDemo({ emulatorOrigin: emulator.origin, bucket: 'asya-counter-demo', workers, increments });
} finally {
  await emulator.stop();
}
