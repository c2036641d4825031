/**
 * One worker process of the counter example: runs the handler INCREMENTS times, each
 * through runWithConflictRetry, as the Asya sidecar would redeliver it. Started with
 * `--import src/client/register.ts` and ASYA_STATE_PROXY_MOUNTS, like an actor. Prints
 * `{"increments":N,"conflicts":M}`.
 */
import { runWithConflictRetry } from '../../src/client/index.ts';
import { handler } from './handler.ts';

const increments = Number(process.env.INCREMENTS ?? '50');
let conflicts = 0;
for (let message = 0; message < increments; message++) {
  await runWithConflictRetry(handler, { message }, {
    maxAttempts: 50,
    deadlineMs: 120_000,
    onRetry: () => { conflicts++; },
  });
}
process.stdout.write(`${JSON.stringify({ increments, conflicts })}\n`);
