/**
 * The parallel upload's plan, with the store's operations as recording fakes (pure logic):
 * which parts are stored, how they are composed 32 at a time, that the precondition-bearing
 * compose comes last, and that every temporary object is deleted whatever the outcome.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { uploadInParts, type PartObject, type PartOperations } from '../../src/store/gcs/composite-upload.ts';
import type { BodyChunk, ChunkedBody } from '../../src/store/object-store.ts';

/** A body of `count` one-byte chunks, at most `window` in hand at once (as request-body.ts hands them). */
function bodyOf(count: number, window: number): ChunkedBody & { handedBack: () => number } {
  let next = 0;
  let held = 0;
  let handedBack = 0;
  let wake: (() => void) | undefined;
  return {
    kind: 'chunked',
    declaredSize: count,
    inParallel: true,
    async next(): Promise<BodyChunk> {
      while (held >= window) await new Promise<void>((resolve) => { wake = resolve; });
      held += 1;
      const offset = next++;
      return { offset, size: 1, buffers: [Buffer.from([offset & 0xff])], last: offset === count - 1, md5Base64: undefined };
    },
    done(): void {
      held -= 1;
      handedBack += 1;
      const resume = wake;
      wake = undefined;
      resume?.();
    },
    handedBack: () => handedBack,
  };
}

interface Recorded {
  stored: string[];
  composed: { name: string; sources: string[] }[];
  removed: string[];
  leftovers: string[];
  maxStoring: number;
}

function operations(fail: { storeAt?: number; remove?: string } = {}): PartOperations & { recorded: Recorded } {
  const recorded: Recorded = { stored: [], composed: [], removed: [], leftovers: [], maxStoring: 0 };
  let storing = 0;
  return {
    recorded,
    async storePart(name, chunk) {
      storing += 1;
      recorded.maxStoring = Math.max(recorded.maxStoring, storing);
      await new Promise(setImmediate);
      storing -= 1;
      if (chunk.offset === fail.storeAt) throw new Error(`part ${chunk.offset} refused`);
      recorded.stored.push(name);
      return { name, generation: '1' };
    },
    async composePart(name, sources) {
      recorded.composed.push({ name, sources: sources.map((source) => source.name) });
      return { name, generation: '1' };
    },
    async removePart(name) {
      if (name === fail.remove) throw new Error('delete refused');
      recorded.removed.push(name);
    },
    onLeftovers(names) { recorded.leftovers.push(...names); },
  };
}

const PREFIX = 'parts/u1/';

describe('uploadInParts', () => {
  it('stores every chunk as a part, composes 70 parts 32 at a time, then the object from the 3 intermediates, and deletes all 73', async () => {
    const ops = operations();
    const body = bodyOf(70, 5);
    let finalSources: readonly PartObject[] = [];
    const answer = await uploadInParts(body, PREFIX, ops, async (sources) => { finalSources = sources; return 'stored'; });
    assert.equal(answer, 'stored');
    assert.deepEqual([...ops.recorded.stored].sort(), Array.from({ length: 70 }, (_, i) => `${PREFIX}${i}`).sort());
    assert.deepEqual(ops.recorded.composed.map((compose) => [compose.name, compose.sources.length]), [[`${PREFIX}l1-0`, 32], [`${PREFIX}l1-1`, 32], [`${PREFIX}l1-2`, 6]]);
    assert.deepEqual(ops.recorded.composed[1]?.sources.slice(0, 2), [`${PREFIX}32`, `${PREFIX}33`], 'sources in body order');
    assert.deepEqual(finalSources.map((source) => source.name), [`${PREFIX}l1-0`, `${PREFIX}l1-1`, `${PREFIX}l1-2`]);
    assert.equal(ops.recorded.removed.length, 73);
    assert.equal(body.handedBack(), 70, 'every chunk handed back');
    assert.equal(ops.recorded.maxStoring, 5, 'as many parts stored at once as the body has chunks in hand, no more');
  });

  it('composes up to 32 parts straight into the object', async () => {
    const ops = operations();
    let finalSources: readonly PartObject[] = [];
    await uploadInParts(bodyOf(32, 3), PREFIX, ops, async (sources) => { finalSources = sources; });
    assert.equal(ops.recorded.composed.length, 0);
    assert.equal(finalSources.length, 32);
  });

  it('a part that fails fails the upload: nothing is composed, every part asked for is deleted, every chunk handed back', async () => {
    const ops = operations({ storeAt: 5 });
    const body = bodyOf(40, 4);
    let composed = false;
    await assert.rejects(uploadInParts(body, PREFIX, ops, async () => { composed = true; }), /part 5 refused/);
    assert.equal(composed, false);
    assert.equal(ops.recorded.composed.length, 0);
    const asked = ops.recorded.removed.length;
    assert.ok(asked >= 6 && asked <= 40, `the parts started before the failure was seen are deleted (${asked})`);
    assert.equal(body.handedBack(), asked);
  });

  it('a failing final compose still deletes the parts', async () => {
    const ops = operations();
    await assert.rejects(uploadInParts(bodyOf(3, 3), PREFIX, ops, async () => { throw new Error('412'); }), /412/);
    assert.equal(ops.recorded.removed.length, 3);
  });

  it('reports the temporary objects it could not delete', async () => {
    const ops = operations({ remove: `${PREFIX}1` });
    await uploadInParts(bodyOf(3, 3), PREFIX, ops, async () => undefined);
    assert.deepEqual(ops.recorded.leftovers, [`${PREFIX}1`]);
    assert.equal(ops.recorded.removed.length, 2);
  });
});
