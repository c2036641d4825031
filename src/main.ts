/**
 * The connector's entry point: `node main.js lww|cas` (each image passes its variant),
 * configured by the environment (docs/configuration.md).
 */
import { loadConfigOrExit, runProcess } from './wiring/run-process.ts';

await runProcess(loadConfigOrExit(process.env, process.argv[2]));
