/**
 * The connector process with fixed settings changed, for tests that need a process of
 * their own and a shorter timeout or smaller chunks than a deployment gets:
 * `node tuned-main.ts <variant> '<JSON of Config fields>'`. Everything else is main.ts.
 */
import type { Config } from '../../src/config.ts';
import { loadConfigOrExit, runProcess } from '../../src/wiring/run-process.ts';

const [variant, settings = '{}'] = process.argv.slice(2);
await runProcess({ ...loadConfigOrExit(process.env, variant), ...JSON.parse(settings) as Partial<Config> });
