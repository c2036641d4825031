/**
 * `gcs-buffered-cas`: a write of a key whose generation was observed (by GET, PUT, or a
 * GET that found nothing) is conditional on that generation; a key never observed is
 * written unconditionally. A conflict or a delete forgets the key, so a handler that runs
 * again starts from a fresh read.
 */
import { ConflictError } from '../errors.ts';
import type { GenerationMemory } from './generation-memory.ts';
import type { WritePolicy } from './write-policy.ts';

export function compareAndSet(memory: GenerationMemory): WritePolicy {
  return {
    implicitCondition(name) {
      const recollection = memory.recall(name);
      if (recollection.kind === 'observed') return recollection.generation;
      if (recollection.kind === 'evicted') {
        throw new ConflictError(
          'generation_mismatch',
          `the generation read for ${name} was pushed out of the connector's memory before this write ` +
            '(it remembers as many keys as a third of CONNECTOR_MEMORY_BUDGET holds); read it again and retry',
        );
      }
      return undefined;
    },
    observed(name, generation) {
      memory.remember(name, generation);
    },
    conflicted(name) {
      memory.forget(name);
    },
    deleted(name) {
      memory.forget(name);
    },
    remembered(name) {
      const recollection = memory.recall(name);
      return recollection.kind === 'observed' ? recollection.generation : undefined;
    },
  };
}
