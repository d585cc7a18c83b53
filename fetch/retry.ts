// Retries for transient failures: exponential backoff with full jitter, so many pods restarting at once
// do not hammer the store in lock-step. Only errors marked retryable (5xx, resets, timeouts) are retried.
import { isFetchError } from './errors.js';

export interface RetryPolicy {
  /** Total tries, the first one included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 500, maxDelayMs: 30_000 };

/** Delay before retry number `retry` (0 for the first retry): uniform in [0, min(max, base * 2^retry)]. */
export function backoffDelayMs(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  return Math.floor(random() * ceiling);
}

export function shouldRetry(err: unknown, attempt: number, policy: RetryPolicy): boolean {
  return attempt < policy.attempts && isFetchError(err) && err.retryable;
}

export interface RetryHooks {
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

const sleepMs = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `work(attempt)` (attempt counts from 1) until it succeeds or fails in a way not worth retrying. */
export async function withRetry<T>(work: (attempt: number) => Promise<T>, policy: RetryPolicy, hooks: RetryHooks = {}): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work(attempt);
    } catch (err) {
      if (!shouldRetry(err, attempt, policy)) throw err;
      const delay = backoffDelayMs(attempt - 1, policy, hooks.random);
      hooks.onRetry?.(err, attempt, delay);
      await (hooks.sleep ?? sleepMs)(delay);
    }
  }
}
