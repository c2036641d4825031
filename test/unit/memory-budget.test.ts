import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnavailableError } from '../../src/errors.ts';
import { ASSUMED_LIMIT_BYTES, containerMemoryLimit, defaultBudgetBytes, MemoryBudget } from '../../src/memory-budget.ts';

const MIB = 1024 * 1024;

describe('MemoryBudget', () => {
  it('reserves what fits, refuses what does not, and counts refusals by use', () => {
    const budget = new MemoryBudget(100);
    assert.equal(budget.tryReserve(60, 'body'), true);
    assert.equal(budget.tryReserve(50, 'listing'), false);
    assert.equal(budget.tryReserve(40, 'listing'), true);
    assert.equal(budget.usedBytes, 100);
    assert.equal(budget.used('body'), 60);
    assert.equal(budget.refusals('listing'), 1);
    budget.release(60, 'body');
    assert.equal(budget.limitBytes - budget.usedBytes, 60);
  });

  it('admit throws a retryable 503 error naming the variable when full', () => {
    const budget = new MemoryBudget(10);
    budget.admit(10, 'connection', 'a connection');
    assert.throws(() => { budget.admit(1, 'listing', 'a listing'); }, (error: unknown) =>
      error instanceof UnavailableError && /CONNECTOR_MEMORY_BUDGET/.test(error.message) && /a listing/.test(error.message));
  });

  it('forced reservations account memory already taken, even past the limit', () => {
    const budget = new MemoryBudget(10);
    budget.reserve(15, 'cas_memory');
    assert.equal(budget.usedBytes, 15);
    assert.ok(budget.usedBytes >= budget.limitBytes, 'nothing left');
    assert.equal(budget.tryReserve(1, 'body'), false);
  });
});

/** Lets every promise that can settle now settle. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise(setImmediate);
}

describe('MemoryBudget.acquire', () => {
  it('grants at once what fits, and otherwise waits in arrival order until released', async () => {
    const budget = new MemoryBudget(100);
    await budget.acquire(70, 'body', 'a body', 10_000);
    const order: string[] = [];
    const big = budget.acquire(60, 'body', 'a big body', 10_000).then(() => { order.push('big'); });
    // Fits now, but must not pass the one waiting before it.
    const small = budget.acquire(20, 'body', 'a small body', 10_000).then(() => { order.push('small'); });
    await settle();
    assert.deepEqual(order, []);
    assert.equal(budget.waiting, 2);
    budget.release(70, 'body');
    await Promise.all([big, small]);
    assert.deepEqual(order, ['big', 'small']);
    assert.equal(budget.used('body'), 80);
    assert.equal(budget.waiting, 0);
  });

  it('gives up after its timeout with a retryable 503 naming the budget, holding nothing', async () => {
    const budget = new MemoryBudget(10);
    budget.reserve(10, 'listing');
    await assert.rejects(budget.acquire(5, 'body', 'a request body', 20), (error: unknown) =>
      error instanceof UnavailableError && /CONNECTOR_MEMORY_BUDGET/.test(error.message) && /a request body/.test(error.message));
    assert.equal(budget.used('body'), 0);
    assert.equal(budget.waiting, 0);
  });

  it('stops waiting when its signal aborts, and lets the ones behind it through', async () => {
    const budget = new MemoryBudget(10);
    budget.reserve(8, 'listing');
    const controller = new AbortController();
    const blocked = budget.acquire(10, 'body', 'a body', 10_000, () => controller.signal);
    const behind = budget.acquire(2, 'body', 'a small body', 10_000);
    await settle();
    assert.equal(budget.waiting, 2);
    controller.abort(new Error('client left'));
    await assert.rejects(blocked, /client left/);
    await behind;
    assert.equal(budget.used('body'), 2);
  });

  it('refuses at once what could never fit', async () => {
    await assert.rejects(new MemoryBudget(10).acquire(11, 'body', 'a body', 10_000), RangeError);
  });
});

describe('default budget', () => {
  it('is a third of what the limit leaves above the baseline, at least 8 MiB', () => {
    assert.equal(defaultBudgetBytes(128 * MIB, 50 * MIB), 26 * MIB);
    assert.equal(defaultBudgetBytes(64 * MIB, 60 * MIB), 8 * MIB);
    assert.equal(defaultBudgetBytes(undefined, 50 * MIB), 26 * MIB, `the seed's ${ASSUMED_LIMIT_BYTES / MIB} MiB assumed`);
  });

  it('reads no limit from the values constrainedMemory() answers without one', () => {
    assert.equal(containerMemoryLimit(0), undefined);
    assert.equal(containerMemoryLimit(2 ** 64), undefined);
    assert.equal(containerMemoryLimit(128 * MIB), 128 * MIB);
  });
});

describe('a held reservation', () => {
  it('gives back what the request no longer needs, and the rest once, at its end', async () => {
    const budget = new MemoryBudget(1000);
    const held = await budget.hold(300, 'query', 'a query', 1_000);
    held.shrinkTo(120);
    assert.equal(budget.used('query'), 120);
    held.shrinkTo(500);
    assert.equal(budget.used('query'), 120, 'shrinking never grows');
    held.release();
    held.release();
    assert.equal(budget.used('query'), 0);
  });

  it('charges a cost larger than half the budget as half, so that it can always be granted', async () => {
    const budget = new MemoryBudget(1000);
    const held = await budget.hold(5000, 'query', 'a query', 1_000);
    assert.equal(held.bytes, 500);
    held.release();
  });
});
