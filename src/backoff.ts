/**
 * Truncated exponential backoff with full jitter, the one wait between tries that both
 * the GCS retries and the client's conflict retries use.
 */

/** The wait before try `attempt + 1` (attempt from 1): uniform in [0, min(max, base × 2^(attempt−1))). */
export function fullJitterDelay(attempt: number, baseDelayMs: number, maxDelayMs: number, random: () => number): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * ceiling);
}
