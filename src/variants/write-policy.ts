/**
 * What a variant adds to plain storage: the precondition a write carries when the client
 * gave none, and what the variant learns from each answer.
 */

export interface WritePolicy {
  /**
   * The generation a write of `name` must match when the request carries no precondition
   * of its own (`"0"`: must not exist), or undefined for an unconditional write.
   * May throw ConflictError when the variant cannot tell safely.
   */
  implicitCondition(name: string): string | undefined;
  /** The generation seen for `name` by a read or a write ("0": seen absent). */
  observed(name: string, generation: string): void;
  /** A write or delete of `name` conflicted: what was remembered is stale. */
  conflicted(name: string): void;
  /** `name` was deleted. */
  deleted(name: string): void;
  /** The generation remembered for `name`, if any. */
  remembered(name: string): string | undefined;
}
