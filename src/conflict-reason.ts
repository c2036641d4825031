/**
 * Why a write was refused with 409: the one vocabulary of the protocol's `"reason"`,
 * shared by the connector (errors.ts) and the client library (client/fs-errors.ts).
 * - `exists`: an exclusive create (`If-None-Match: *`) found an object;
 * - `generation_mismatch`: the object is no longer at the generation the write was
 *   conditioned on (an explicit `If-Match`, or the generation a CAS memory remembered).
 */
export type ConflictReason = 'exists' | 'generation_mismatch';

export function isConflictReason(value: unknown): value is ConflictReason {
  return value === 'exists' || value === 'generation_mismatch';
}
