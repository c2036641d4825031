import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConflictError } from '../../src/errors.ts';
import { compareAndSet } from '../../src/variants/cas.ts';
import { MemoryBudget } from '../../src/memory-budget.ts';
import { ENTRY_BYTES, GenerationMemory } from '../../src/variants/generation-memory.ts';

describe('GenerationMemory', () => {
  it('recalls what was observed, absent included', () => {
    const memory = new GenerationMemory(10);
    memory.remember('a', '5');
    memory.remember('b', '0');
    assert.deepEqual(memory.recall('a'), { kind: 'observed', generation: '5' });
    assert.deepEqual(memory.recall('b'), { kind: 'observed', generation: '0' });
    assert.deepEqual(memory.recall('c'), { kind: 'unknown' });
  });

  it('keeps at most capacity names, least recently used out first', () => {
    const memory = new GenerationMemory(2);
    memory.remember('a', '1');
    memory.remember('b', '1');
    memory.remember('a', '2');
    memory.remember('c', '1');
    assert.equal(memory.size, 2);
    assert.equal(memory.recall('a').kind, 'observed');
    assert.equal(memory.recall('b').kind, 'evicted');
    assert.equal(memory.evictions, 1);
  });

  it('remembers evictions within the last capacity..2×capacity of them', () => {
    const capacity = 1000;
    const memory = new GenerationMemory(capacity);
    for (let i = 0; i < capacity * 2; i++) memory.remember(`k${i}`, '1');
    for (let i = 0; i < capacity; i++) assert.equal(memory.recall(`k${i}`).kind, 'evicted', `k${i}`);
  });

  it('rarely mistakes a never-seen name for an evicted one', () => {
    const capacity = 10_000;
    const memory = new GenerationMemory(capacity);
    for (let i = 0; i < capacity * 2; i++) memory.remember(`seen-${i}`, '1');
    let falsePositives = 0;
    for (let i = 0; i < 10_000; i++) if (memory.recall(`never-${i}`).kind === 'evicted') falsePositives += 1;
    console.log(`# false "evicted" rate: ${(falsePositives / 100).toFixed(2)}%`);
    assert.ok(falsePositives < 500, `${falsePositives} of 10000`);
  });

  it('costs the same per entry whatever the key length, is counted in the budget, and is bounded by its capacity, not by a budget full for a moment', () => {
    // 100 names of capacity: the filter of evictions takes 2 × 1,000 bits.
    const budget = new MemoryBudget(250 + 10 * ENTRY_BYTES + 64);
    const memory = new GenerationMemory(100, budget);
    const filterBytes = budget.used('cas_memory');
    memory.remember('a', '1');
    memory.remember('x'.repeat(1000), '2');
    assert.equal(budget.used('cas_memory') - filterBytes, 2 * ENTRY_BYTES);
    budget.reserve(budget.limitBytes, 'body');
    for (let i = 0; i < 50; i++) memory.remember(`k${i}`, String(i));
    assert.equal(memory.size, 52, 'a full budget pushes nothing out');
    assert.equal(memory.recall('a').kind, 'observed', 'a key just read keeps its generation');
    for (let i = 50; i < 150; i++) memory.remember(`k${i}`, String(i));
    assert.equal(memory.size, 100, 'at capacity');
    assert.equal(memory.recall('a').kind, 'evicted', 'pushed out, and its write will conflict instead of going out unconditionally');
    assert.equal(budget.used('cas_memory') - filterBytes, 100 * ENTRY_BYTES);
    memory.forget('k149');
    assert.equal(budget.used('cas_memory') - filterBytes, 99 * ENTRY_BYTES);
  });

  it('forget drops the name', () => {
    const memory = new GenerationMemory(4);
    memory.remember('a', '1');
    memory.forget('a');
    assert.deepEqual(memory.recall('a'), { kind: 'unknown' });
  });
});

describe('compareAndSet policy', () => {
  it('conditions writes on what was observed, and refuses an evicted key with a conflict', () => {
    const policy = compareAndSet(new GenerationMemory(1));
    assert.equal(policy.implicitCondition('a'), undefined);
    policy.observed('a', '7');
    assert.equal(policy.implicitCondition('a'), '7');
    policy.observed('b', '0');
    assert.equal(policy.implicitCondition('b'), '0');
    assert.throws(() => policy.implicitCondition('a'), ConflictError);
    policy.conflicted('b');
    assert.equal(policy.remembered('b'), undefined);
  });
});
