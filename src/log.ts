/**
 * Structured logging: one JSON object per line on stdout, in Cloud Logging's structured
 * format (`severity`, `message`, `time`, then our fields), so GKE shows each line at its
 * level. Callers pass facts (key, status, sizes, durations), never object contents,
 * tokens or signed URLs.
 */
import type { LogLevel } from './config.ts';

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };
/** Cloud Logging's names for the levels. */
const SEVERITY: Readonly<Record<LogLevel, string>> = { debug: 'DEBUG', info: 'INFO', warn: 'WARNING', error: 'ERROR' };

export interface LogSink {
  write(line: string): unknown;
}

/** A logger that writes levels at or above `level` to `sink` (stdout by default). */
export function createLogger(level: LogLevel, sink: LogSink = process.stdout): Logger {
  const threshold = RANK[level];
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields): void => {
    if (RANK[lvl] < threshold) return;
    const record: Record<string, unknown> = { severity: SEVERITY[lvl], message: msg, time: new Date().toISOString() };
    if (fields !== undefined) {
      for (const [name, value] of Object.entries(fields)) record[name] = value instanceof Error ? describeError(value) : value;
    }
    sink.write(`${JSON.stringify(record)}\n`);
  };
  return {
    debug: (msg, fields) => { emit('debug', msg, fields); },
    info: (msg, fields) => { emit('info', msg, fields); },
    warn: (msg, fields) => { emit('warn', msg, fields); },
    error: (msg, fields) => { emit('error', msg, fields); },
  };
}

function describeError(error: Error): Record<string, unknown> {
  const described: Record<string, unknown> = { name: error.name, message: error.message, stack: error.stack };
  const code = (error as { code?: unknown }).code;
  if (code !== undefined) described.code = code;
  if (error.cause instanceof Error) described.cause = describeError(error.cause);
  return described;
}

/**
 * Process warnings (Node's, and libraries' such as gcp-metadata's MetadataLookupWarning)
 * go to the log as WARNING lines instead of Node's plain text on stderr, which Cloud
 * Logging would show as errors without structure. Answers a function that puts Node's
 * own printing back.
 */
export function logProcessWarnings(logger: Logger): () => void {
  const previous = process.listeners('warning');
  process.removeAllListeners('warning');
  const onWarning = (warning: Error & { code?: string }): void => {
    logger.warn(warning.message, { warning: warning.name, ...(warning.code === undefined ? {} : { code: warning.code }) });
  };
  process.on('warning', onWarning);
  return () => {
    process.off('warning', onWarning);
    for (const listener of previous) process.on('warning', listener);
  };
}
