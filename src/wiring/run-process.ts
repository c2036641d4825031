/**
 * The connector as a process, around createConnector: the logger, the budget sized from
 * the container, the "serving" line, and SIGTERM/SIGINT draining then exiting.
 *
 * Exit codes: 0 clean stop; 1 start-up failed (bucket missing, no permission, GCS
 * unreachable, socket path taken); 78 configuration error (EX_CONFIG).
 */
import { loadConfig, ConfigError, type Config } from '../config.ts';
import { createLogger, logProcessWarnings, type Logger } from '../log.ts';
import { containerMemoryLimit, defaultBudgetBytes } from '../memory-budget.ts';
import { createConnector, StartupError, type RunningConnector } from './connector.ts';
import { gcsOrigin } from './gcs-store.ts';

const EXIT_STARTUP_FAILED = 1;
const EXIT_CONFIG = 78;

/** Runs the connector until a signal stops it; the process exits from here. */
export async function runProcess(config: Config): Promise<void> {
  const logger = createLogger(config.logLevel);
  logProcessWarnings(logger);
  const memoryLimit = containerMemoryLimit();
  let connector: RunningConnector;
  try {
    connector = await createConnector(config, { logger, budgetBytes: defaultBudgetBytes(memoryLimit, process.memoryUsage.rss()) });
  } catch (error) {
    if (!(error instanceof StartupError)) throw error;
    logger.error(error.message, { bucket: config.bucket, endpoint: gcsOrigin(config) });
    process.exit(EXIT_STARTUP_FAILED);
  }

  // Handlers first: a signal right after "serving" must drain, not kill the process.
  handleSignals(config, logger, async (graceMs) => (await connector.stop(graceMs)).forced);
  logger.info('serving', {
    variant: config.variant,
    socket: config.socketPath,
    bucket: config.bucket,
    prefix: config.prefix,
    endpoint: gcsOrigin(config),
    ...(config.opsPort === undefined ? {} : { ops_port: config.opsPort, ops_host: config.opsHost ?? 'all interfaces' }),
    memory_budget_bytes: connector.budget.limitBytes,
    upload_chunk_bytes: connector.uploadChunkBytes,
    memory_limit_bytes: memoryLimit ?? 'none (budget sized for 128Mi)',
    uptime_ms: Math.round(process.uptime() * 1000),
  });
}

/** The configuration, or exit 78 with the one line saying what is wrong. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv, variant: string | undefined): Config {
  try {
    return loadConfig(env, variant);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`configuration error: ${error.message}\n`);
    process.exit(EXIT_CONFIG);
  }
}

/** How long after the grace period a stop that has not finished is cut short. */
const HARD_STOP_AFTER_GRACE_MS = 5_000;

function handleSignals(config: Config, logger: Logger, stop: (graceMs: number) => Promise<boolean>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn('second signal: exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    logger.info('stopping: finishing requests in flight', { signal, grace_ms: config.shutdownGraceMs });
    // Connections are force-closed when the grace ends; if closing itself hangs, exit anyway.
    setTimeout(() => {
      logger.error('stopping did not finish after the grace period: exiting now', { grace_ms: config.shutdownGraceMs });
      process.exit(1);
    }, config.shutdownGraceMs + HARD_STOP_AFTER_GRACE_MS).unref();
    stop(config.shutdownGraceMs).then(
      (forced) => {
        logger.info('stopped', { forced_close: forced });
        process.exit(0);
      },
      (error: unknown) => {
        logger.error('error while stopping', { error });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
