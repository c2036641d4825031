/** The log format Cloud Logging reads, and process warnings routed into it. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, logProcessWarnings } from '../../src/log.ts';

function captured(): { lines: Array<Record<string, unknown>>; sink: { write(line: string): void } } {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, sink: { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>); } } };
}

describe('log lines', () => {
  it('carry severity, message and time first, as Cloud Logging reads them, then the fields; levels below the threshold are dropped', () => {
    const { lines, sink } = captured();
    const logger = createLogger('info', sink);
    logger.debug('not written');
    logger.info('serving', { socket: '/s' });
    logger.warn('careful');
    logger.error('broken', { error: new Error('boom') });
    assert.deepEqual(lines.map((line) => [line.severity, line.message]), [['INFO', 'serving'], ['WARNING', 'careful'], ['ERROR', 'broken']]);
    assert.deepEqual(Object.keys(lines[0] ?? {}), ['severity', 'message', 'time', 'socket']);
    assert.match(String(lines[0]?.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal((lines[2]?.error as { message?: string }).message, 'boom');
  });

  it('process warnings become WARNING lines instead of plain text on stderr', async () => {
    const { lines, sink } = captured();
    const restore = logProcessWarnings(createLogger('info', sink));
    try {
      process.emitWarning('metadata lookup failed', { type: 'MetadataLookupWarning', code: 'X_TEST' });
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      restore();
    }
    assert.deepEqual(lines.map((line) => ({ ...line, time: undefined })), [{ severity: 'WARNING', message: 'metadata lookup failed', time: undefined, warning: 'MetadataLookupWarning', code: 'X_TEST' }]);
  });
});
