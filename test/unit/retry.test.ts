import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fullJitterDelay } from '../../src/backoff.ts';
import { withRetries } from '../../src/store/gcs/retry.ts';
import { isStoreError, StoreError } from '../../src/store/store-error.ts';

const policy = { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 4 };

describe('fullJitterDelay', () => {
  it('is full jitter under a doubling, truncated ceiling', () => {
    assert.equal(fullJitterDelay(1, 100, 1000, () => 0.999), 99);
    assert.equal(fullJitterDelay(3, 100, 1000, () => 0.999), 399);
    assert.equal(fullJitterDelay(8, 100, 1000, () => 0.999), 999);
    assert.equal(fullJitterDelay(8, 100, 1000, () => 0), 0);
    assert.equal(fullJitterDelay(3, 50, 2000, () => 0.5), 100);
  });
});

describe('withRetries', () => {
  it('retries transient failures until success', async () => {
    let calls = 0;
    const retried: number[] = [];
    const value = await withRetries(policy, Date.now() + 5000, async () => {
      calls += 1;
      if (calls < 3) throw new StoreError('unavailable', 'flaky');
      return 'ok';
    }, (_error, attempt) => retried.push(attempt));
    assert.equal(value, 'ok');
    assert.deepEqual(retried, [1, 2]);
  });

  it('does not retry final errors', async () => {
    let calls = 0;
    await assert.rejects(withRetries(policy, Date.now() + 5000, async () => {
      calls += 1;
      throw new StoreError('refused', 'no');
    }, () => {}), (error: unknown) => isStoreError(error, 'refused'));
    assert.equal(calls, 1);
  });

  it('stops after maxAttempts with the last error', async () => {
    let calls = 0;
    await assert.rejects(withRetries(policy, Date.now() + 5000, async () => {
      calls += 1;
      throw new StoreError('unavailable', `attempt ${calls}`);
    }, () => {}), /attempt 4/);
  });

  it('says how many attempts the final failure took, in a new error: the one caught is left as it was', async () => {
    const thrown: StoreError[] = [];
    const backend = { target: 'gs://b/o', status: 503, reason: 'backendError' };
    const final = await withRetries(policy, Date.now() + 5000, async () => {
      const error = new StoreError('unavailable', `attempt ${thrown.length + 1}`, { backend });
      thrown.push(error);
      throw error;
    }, () => {}).catch((error: unknown) => error);
    assert.ok(isStoreError(final, 'unavailable'));
    assert.equal(final.message, 'attempt 4');
    assert.deepEqual(final.backend, { ...backend, attempts: 4 });
    assert.equal(thrown.length, 4);
    assert.ok(thrown.every((error) => error.backend === backend && error.backend.attempts === undefined));
  });

  it('never starts past the deadline', async () => {
    await assert.rejects(withRetries(policy, Date.now() - 1, async () => 'never', () => {}), (error: unknown) => isStoreError(error, 'timeout'));
  });
});
