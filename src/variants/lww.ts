/**
 * `gcs-buffered-lww`: no implicit conditions, nothing remembered; the last write wins.
 * Explicit preconditions from the client (If-Match, If-None-Match) still apply.
 */
import type { WritePolicy } from './write-policy.ts';

export const lastWriteWins: WritePolicy = {
  implicitCondition: () => undefined,
  observed: () => {},
  conflicted: () => {},
  deleted: () => {},
  remembered: () => undefined,
};
