import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadRequestError, DeadlineExceededError, UnavailableError } from '../../src/errors.ts';
import { backoffDelay, withRetries } from '../../src/store/gcs/retry.ts';

const policy = { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 4 };

describe('backoffDelay', () => {
  it('is full jitter under a doubling, truncated ceiling', () => {
    const wide = { maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 1000 };
    assert.equal(backoffDelay(wide, 1, () => 0.999), 99);
    assert.equal(backoffDelay(wide, 3, () => 0.999), 399);
    assert.equal(backoffDelay(wide, 8, () => 0.999), 999);
    assert.equal(backoffDelay(wide, 8, () => 0), 0);
  });
});

describe('withRetries', () => {
  it('retries transient failures until success', async () => {
    let calls = 0;
    const retried: number[] = [];
    const value = await withRetries(policy, Date.now() + 5000, async () => {
      calls += 1;
      if (calls < 3) throw new UnavailableError('flaky');
      return 'ok';
    }, (_error, attempt) => retried.push(attempt));
    assert.equal(value, 'ok');
    assert.deepEqual(retried, [1, 2]);
  });

  it('does not retry final errors', async () => {
    let calls = 0;
    await assert.rejects(withRetries(policy, Date.now() + 5000, async () => {
      calls += 1;
      throw new BadRequestError('no');
    }, () => {}), BadRequestError);
    assert.equal(calls, 1);
  });

  it('stops after maxAttempts with the last error', async () => {
    let calls = 0;
    await assert.rejects(withRetries(policy, Date.now() + 5000, async () => {
      calls += 1;
      throw new UnavailableError(`attempt ${calls}`);
    }, () => {}), /attempt 4/);
  });

  it('never starts past the deadline', async () => {
    await assert.rejects(withRetries(policy, Date.now() - 1, async () => 'never', () => {}), DeadlineExceededError);
  });
});
